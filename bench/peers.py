#!/usr/bin/env python3
"""Times VGG-16's convolutional part (13 conv + 5 max-pool, random weights) in onnxruntime and,
when it is installed, PyTorch. Prints one JSON line per engine: {"engine", "batch", "size",
"images_per_s", "median_s"}. Used by bench/encoder.sh; the graph is built here with onnx.helper.
"""
import argparse
import json
import statistics
import time

import numpy as np

PLAN = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def random_weights(seed=0):
    rng = np.random.default_rng(seed)
    weights, channels = [], 3
    for step in PLAN:
        if step == "M":
            continue
        std = np.sqrt(2.0 / (step * 9))
        weights.append((rng.normal(0, std, (step, channels, 3, 3)).astype(np.float32), np.zeros(step, np.float32)))
        channels = step
    return weights


def onnx_model(weights):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, current, k = [], [], "input", 0
    for i, step in enumerate(PLAN):
        out = f"t{i}"
        if step == "M":
            nodes.append(helper.make_node("MaxPool", [current], [out], kernel_shape=[2, 2], strides=[2, 2]))
        else:
            w, b = weights[k]
            inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(b, f"b{k}")]
            conv = f"c{i}"
            nodes.append(helper.make_node("Conv", [current, f"w{k}", f"b{k}"], [conv], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
            nodes.append(helper.make_node("Relu", [conv], [out]))
            k += 1
        current = out
    graph = helper.make_graph(
        nodes,
        "vgg16_features",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, ["n", 512, "oh", "ow"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def timed(run, repeats):
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    weights = random_weights()
    x = np.random.default_rng(1).normal(0, 1, (args.batch, 3, args.size, args.size)).astype(np.float32)

    import onnxruntime as ort

    session = ort.InferenceSession(onnx_model(weights), providers=["CPUExecutionProvider"])
    median = timed(lambda: session.run(None, {"input": x}), args.repeats)
    print(json.dumps({"engine": f"onnxruntime {ort.__version__}", "batch": args.batch, "size": args.size,
                      "images_per_s": args.batch / median, "median_s": median}))

    try:
        import torch
    except ImportError:
        return
    layers, channels, k = [], 3, 0
    for step in PLAN:
        if step == "M":
            layers.append(torch.nn.MaxPool2d(2))
            continue
        conv = torch.nn.Conv2d(channels, step, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(weights[k][0]))
            conv.bias.copy_(torch.from_numpy(weights[k][1]))
        layers += [conv, torch.nn.ReLU(inplace=True)]
        channels, k = step, k + 1
    net = torch.nn.Sequential(*layers).eval()
    tx = torch.from_numpy(x)
    with torch.inference_mode():
        median = timed(lambda: net(tx), args.repeats)
    print(json.dumps({"engine": f"pytorch {torch.__version__}", "batch": args.batch, "size": args.size,
                      "images_per_s": args.batch / median, "median_s": median}))


if __name__ == "__main__":
    main()
