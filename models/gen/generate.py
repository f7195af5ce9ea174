#!/usr/bin/env python3
"""Generate and check accelsim's built-in network definitions (models/*.toml).

Usage:
    python3 models/gen/generate.py           # write models/*.toml, then check them
    python3 models/gen/generate.py --check   # only check the files on disk

Standard library only (Python >= 3.11 for tomllib).

The generator half builds each network with small helper functions (fire
modules, bottlenecks, inception blocks) and writes one TOML file per network.
The checker half is independent of the generator: it re-reads each TOML file
with tomllib, validates the keys, runs shape inference with the loader's shape
rules, counts MACs and parameters, and asserts they are within 1% of the
published figures stored in the file.  In --check mode it also reports files
that differ from what the generator would write (stale files).

Counting convention (see models/README.md): MACs = multiply-accumulates of
conv2d (incl. grouped), depthwise and fc layers, one per weight x activation
product; params = conv/depthwise/fc weights + biases (batch norm folded into a
bias).  Nothing else is counted.
"""

from __future__ import annotations

import argparse
import math
import sys
import tomllib
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------

# Key order in emitted layers (the brief's order; op-specific keys slotted in).
KEY_ORDER = [
    "name", "op", "input", "inputs",
    "filters", "expand", "units", "kernel", "stride", "padding", "dilation", "groups",
    "multiplier", "axis", "axes", "keep_dims", "pads", "shape",
    "bias", "activation", "fixed_width",
]


class Net:
    """Accumulates layers; helpers return the name of the output tensor."""

    def __init__(self, name, title, source, comment, macs, params, shape,
                 scaling=None):
        self.name = name
        self.title = title
        self.source = source
        self.comment = comment
        self.published_macs = macs
        self.published_params = params
        self.input_shape = shape
        self.scaling = scaling
        self.layers: list[dict] = []
        self.last = "input"

    def add_layer(self, name, op, input=None, inputs=None, **kw):
        layer = {"name": name, "op": op}
        if inputs is not None:
            layer["inputs"] = list(inputs)
        elif input is not None and input != self.last:
            layer["input"] = input
        for k, v in kw.items():
            if v is None:
                continue
            layer[k] = v
        # Drop values equal to the documented defaults to keep files readable.
        if layer.get("bias") is True:
            del layer["bias"]
        if layer.get("activation") == "none":
            del layer["activation"]
        if layer.get("fixed_width") is False:
            del layer["fixed_width"]
        if layer.get("dilation") == 1:
            del layer["dilation"]
        if layer.get("groups") == 1:
            del layer["groups"]
        if layer.get("multiplier") == 1:
            del layer["multiplier"]
        self.layers.append(layer)
        self.last = name
        return name

    # -- op helpers ------------------------------------------------------
    def conv(self, name, filters, kernel, stride=1, padding="valid",
             activation="relu", input=None, groups=1, bias=True,
             fixed_width=False):
        return self.add_layer(name, "conv2d", input=input, filters=filters,
                              kernel=kernel, stride=stride, padding=padding,
                              groups=groups, bias=bias, activation=activation,
                              fixed_width=fixed_width)

    def dw(self, name, kernel, stride=1, padding="same", activation="relu6",
           input=None, multiplier=1):
        return self.add_layer(name, "depthwise", input=input, kernel=kernel,
                              stride=stride, padding=padding,
                              multiplier=multiplier, activation=activation)

    def fc(self, name, units, activation="none", input=None, fixed_width=True):
        return self.add_layer(name, "fc", input=input, units=units,
                              activation=activation, fixed_width=fixed_width)

    def maxpool(self, name, kernel, stride, padding="valid", input=None):
        return self.add_layer(name, "maxpool", input=input, kernel=kernel,
                              stride=stride, padding=padding)

    def avgpool(self, name, kernel, stride, padding="valid", input=None):
        return self.add_layer(name, "avgpool", input=input, kernel=kernel,
                              stride=stride, padding=padding)

    def mean(self, name, keep_dims, input=None):
        return self.add_layer(name, "mean", input=input, axes=[1, 2],
                              keep_dims=keep_dims)

    def add(self, name, inputs, activation="none"):
        return self.add_layer(name, "add", inputs=inputs, activation=activation)

    def concat(self, name, inputs):
        return self.add_layer(name, "concat", inputs=inputs, axis=3)

    def reshape(self, name, shape, input=None):
        return self.add_layer(name, "reshape", input=input, shape=shape)

    def softmax(self, name="prob", input=None):
        return self.add_layer(name, "softmax", input=input)


def pad4(p):
    """Symmetric explicit padding (PyTorch `padding=p`) as [top, bottom, left, right]."""
    if isinstance(p, int):
        return [p, p, p, p]
    ph, pw = p
    return [ph, ph, pw, pw]


# ---- MobileNet-v1 -----------------------------------------------------------

def mnv1() -> Net:
    n = Net(
        "mnv1", "MobileNet-v1 1.0 224",
        "Howard et al. 2017, arXiv:1704.04861, Table 1 (layers) and Table 8 "
        "(569M mult-adds, 4.2M params); layer names and SAME padding as "
        "tensorflow/models research/slim nets/mobilenet_v1.py",
        "MobileNet-v1 (alpha 1.0, 224x224), Howard et al. 2017 / TF-slim mobilenet_v1",
        569_000_000, 4_200_000, [1, 224, 224, 3],
        scaling={"width_multiplier": True, "width_divisor": 1,
                 "resolution": True})
    n.conv("conv0", 32, 3, 2, "same", "relu6")
    # (pointwise filters, depthwise stride) for Conv2d_1 .. Conv2d_13
    spec = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
            (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
            (1024, 2), (1024, 1)]
    for i, (f, s) in enumerate(spec, start=1):
        n.dw(f"conv{i}_dw", 3, s, "same", "relu6")
        n.conv(f"conv{i}_pw", f, 1, 1, "same", "relu6")
    # TF-slim: global average pool, then a 1x1 conv classifier (Conv2d_1c_1x1).
    n.mean("pool", keep_dims=True)
    n.conv("logits", 1000, 1, 1, "same", "none", fixed_width=True)
    n.reshape("logits_flat", [1, -1])
    n.softmax()
    return n


# ---- MobileNet-v2 -----------------------------------------------------------

def mnv2() -> Net:
    n = Net(
        "mnv2", "MobileNet-v2 1.0 224",
        "Sandler et al. 2018, arXiv:1801.04381, Table 2 (layers) and Table 4 "
        "(300M MAdds, 3.4M params; 3.47M in tensorflow/models research/slim "
        "nets/mobilenet README); padding as TF-slim / Keras MobileNetV2",
        "MobileNet-v2 (alpha 1.0, 224x224), Sandler et al. 2018 / TF-slim / Keras MobileNetV2",
        300_000_000, 3_470_000, [1, 224, 224, 3],
        scaling={"width_multiplier": True, "width_divisor": 8,
                 "resolution": True})
    n.conv("conv0", 32, 3, 2, "same", "relu6")
    # (expansion t, output channels c, repeats n, first stride s), Table 2
    spec = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
            (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    cin = 32
    b = 0
    for t, c, reps, s in spec:
        for r in range(reps):
            stride = s if r == 0 else 1
            block_in = n.last
            if t != 1:
                # `expand`: filters = t x the (width-scaled) input channels, as Keras
                # and TF-slim size the expansion conv.
                n.add_layer(f"block{b}_expand", "conv2d", expand=t, kernel=1, stride=1,
                            padding="same", activation="relu6")
            n.dw(f"block{b}_dw", 3, stride, "same", "relu6")
            n.conv(f"block{b}_project", c, 1, 1, "same", "none")
            if stride == 1 and cin == c:
                n.add(f"block{b}_add", [block_in, n.last])
            cin = c
            b += 1
    # Keras: the last conv is 1280 wide and only scales for alpha > 1.
    n.conv("conv_last", 1280, 1, 1, "same", "relu6", fixed_width=True)
    n.mean("pool", keep_dims=False)
    n.fc("logits", 1000)
    n.softmax()
    return n


# ---- ResNets ----------------------------------------------------------------

def resnet_stem(n: Net):
    n.conv("conv1", 64, 7, 2, pad4(3), "relu")
    n.maxpool("maxpool", 3, 2, pad4(1))


def basic_block(n: Net, prefix, cin, planes, stride):
    x = n.last
    n.conv(f"{prefix}_conv1", planes, 3, stride, pad4(1), "relu", input=x)
    y = n.conv(f"{prefix}_conv2", planes, 3, 1, pad4(1), "none")
    if stride != 1 or cin != planes:
        sc = n.conv(f"{prefix}_downsample", planes, 1, stride, "valid",
                    "none", input=x)
    else:
        sc = x
    n.add(prefix, [y, sc], activation="relu")
    return planes


def bottleneck(n: Net, prefix, cin, planes, stride):
    """torchvision / ResNet v1.5 bottleneck: the stride is on the 3x3 conv."""
    x = n.last
    out = planes * 4
    n.conv(f"{prefix}_conv1", planes, 1, 1, "valid", "relu", input=x)
    n.conv(f"{prefix}_conv2", planes, 3, stride, pad4(1), "relu")
    y = n.conv(f"{prefix}_conv3", out, 1, 1, "valid", "none")
    if stride != 1 or cin != out:
        sc = n.conv(f"{prefix}_downsample", out, 1, stride, "valid", "none",
                    input=x)
    else:
        sc = x
    n.add(prefix, [y, sc], activation="relu")
    return out


def resnet(name, title, block, depths, macs, params, source) -> Net:
    n = Net(name, title, source,
            f"{title} (224x224), He et al. 2016 / torchvision.models.{name}",
            macs, params, [1, 224, 224, 3])
    resnet_stem(n)
    cin = 64
    for stage, (planes, reps) in enumerate(zip([64, 128, 256, 512], depths),
                                           start=1):
        for r in range(reps):
            stride = 2 if (stage > 1 and r == 0) else 1
            cin = block(n, f"layer{stage}_{r}", cin, planes, stride)
    n.mean("avgpool", keep_dims=False)
    n.fc("fc", 1000)
    n.softmax()
    return n


def resnet18() -> Net:
    return resnet(
        "resnet18", "ResNet-18", basic_block, [2, 2, 2, 2],
        1_800_000_000, 11_700_000,
        "He et al. 2016, arXiv:1512.03385, Table 1 (1.8 GFLOPs = mult-adds); "
        "torchvision.models.resnet18 (11.7M params, explicit PyTorch padding)")


def resnet50() -> Net:
    return resnet(
        "resnet50", "ResNet-50 v1.5", bottleneck, [3, 4, 6, 3],
        4_100_000_000, 25_600_000,
        "He et al. 2016, arXiv:1512.03385, Table 1, v1.5 variant as in "
        "torchvision.models.resnet50 (stride on the 3x3 conv; 4.1 G MACs, "
        "25.6M params)")


# ---- VGG-16 -----------------------------------------------------------------

def vgg16() -> Net:
    n = Net(
        "vgg16", "VGG-16",
        "Simonyan & Zisserman 2014, arXiv:1409.1556, Table 1 config D "
        "(138M params); torchvision.models.vgg16 (15.5 G MACs)",
        "VGG-16 (configuration D, 224x224), Simonyan & Zisserman 2014 / torchvision.models.vgg16",
        15_500_000_000, 138_000_000, [1, 224, 224, 3])
    cfg = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512],
           [512, 512, 512]]
    for s, convs in enumerate(cfg, start=1):
        for i, f in enumerate(convs, start=1):
            n.conv(f"conv{s}_{i}", f, 3, 1, pad4(1), "relu")
        n.maxpool(f"pool{s}", 2, 2, "valid")
    # fc6 flattens the 7x7x512 map (NHWC order; torchvision flattens NCHW,
    # which only permutes fc6's weight rows).
    n.fc("fc6", 4096, "relu")
    n.fc("fc7", 4096, "relu")
    n.fc("fc8", 1000)
    n.softmax()
    return n


# ---- AlexNet (original, two groups) ------------------------------------------

def alexnet() -> Net:
    n = Net(
        "alexnet", "AlexNet (original, 2 groups)",
        "Krizhevsky et al. 2012 (NIPS), Fig. 2: the two-GPU network with grouped "
        "CONV2/4/5, 227x227 input as Eyeriss runs it (Chen et al., ISSCC 2016 / JSSC 2017: "
        "CONV layers 666M MACs, 2.3M weights per 227x227 image); whole network "
        "724M MACs, 61M params (Sze et al., Proc. IEEE 105(12), 2017, Table III)",
        "AlexNet (Krizhevsky et al. 2012, grouped CONV2/4/5, 227x227) as Eyeriss runs it; "
        "LRN layers left out (no MACs, no params)",
        724_000_000, 61_000_000, [1, 227, 227, 3])
    n.conv("conv1", 96, 11, 4, "valid", "relu")
    n.maxpool("pool1", 3, 2, "valid")
    n.conv("conv2", 256, 5, 1, pad4(2), "relu", groups=2)
    n.maxpool("pool2", 3, 2, "valid")
    n.conv("conv3", 384, 3, 1, pad4(1), "relu")
    n.conv("conv4", 384, 3, 1, pad4(1), "relu", groups=2)
    n.conv("conv5", 256, 3, 1, pad4(1), "relu", groups=2)
    n.maxpool("pool5", 3, 2, "valid")
    # fc6 flattens the 6x6x256 map (NHWC order; the Caffe model flattens NCHW, which only
    # permutes fc6's weight rows).
    n.fc("fc6", 4096, "relu")
    n.fc("fc7", 4096, "relu")
    n.fc("fc8", 1000)
    n.softmax()
    return n


# ---- SqueezeNet 1.1 ---------------------------------------------------------

# ceil_mode=True max pool (kernel 3, stride 2) == floor mode with one extra
# row/column of padding at the bottom/right: floor((in+1-3)/2)+1 = ceil((in-3)/2)+1.
CEIL_POOL_PAD = [0, 1, 0, 1]


def fire(n: Net, name, squeeze, e1, e3):
    s = n.conv(f"{name}_squeeze1x1", squeeze, 1, 1, "valid", "relu")
    a = n.conv(f"{name}_expand1x1", e1, 1, 1, "valid", "relu", input=s)
    b = n.conv(f"{name}_expand3x3", e3, 3, 1, pad4(1), "relu", input=s)
    return n.concat(name, [a, b])


def squeezenet() -> Net:
    n = Net(
        "squeezenet", "SqueezeNet 1.1",
        "Iandola et al. 2016, arXiv:1602.07360; v1.1 from forresti/SqueezeNet "
        "SqueezeNet_v1.1 and torchvision.models.squeezenet1_1 "
        "(352M MACs, 1.24M params)",
        "SqueezeNet 1.1 (224x224), forresti/SqueezeNet v1.1 / torchvision.models.squeezenet1_1",
        352_000_000, 1_240_000, [1, 224, 224, 3])
    n.conv("conv1", 64, 3, 2, "valid", "relu")
    n.maxpool("pool1", 3, 2, CEIL_POOL_PAD)
    fire(n, "fire2", 16, 64, 64)
    fire(n, "fire3", 16, 64, 64)
    n.maxpool("pool3", 3, 2, CEIL_POOL_PAD)
    fire(n, "fire4", 32, 128, 128)
    fire(n, "fire5", 32, 128, 128)
    n.maxpool("pool5", 3, 2, CEIL_POOL_PAD)
    fire(n, "fire6", 48, 192, 192)
    fire(n, "fire7", 48, 192, 192)
    fire(n, "fire8", 64, 256, 256)
    fire(n, "fire9", 64, 256, 256)
    n.conv("conv10", 1000, 1, 1, "valid", "relu", fixed_width=True)
    n.mean("pool10", keep_dims=False)
    n.softmax()
    return n


# ---- Inception-v3 -----------------------------------------------------------

def bconv(n: Net, name, filters, kernel, stride=1, padding=0, input=None):
    """torchvision BasicConv2d: conv (no bias) + BN + ReLU; BN folded -> bias."""
    if isinstance(padding, (int, tuple)):
        padding = pad4(padding)
    return n.conv(name, filters, kernel, stride, padding, "relu", input=input)


def inception_a(n: Net, name, pool_features):
    x = n.last
    b1 = bconv(n, f"{name}_branch1x1", 64, 1, input=x)
    bconv(n, f"{name}_branch5x5_1", 48, 1, input=x)
    b5 = bconv(n, f"{name}_branch5x5_2", 64, 5, padding=2)
    bconv(n, f"{name}_branch3x3dbl_1", 64, 1, input=x)
    bconv(n, f"{name}_branch3x3dbl_2", 96, 3, padding=1)
    b3 = bconv(n, f"{name}_branch3x3dbl_3", 96, 3, padding=1)
    n.avgpool(f"{name}_branch_pool_avg", 3, 1, pad4(1), input=x)
    bp = bconv(n, f"{name}_branch_pool", pool_features, 1)
    return n.concat(name, [b1, b5, b3, bp])


def inception_b(n: Net, name):
    x = n.last
    b3 = bconv(n, f"{name}_branch3x3", 384, 3, stride=2, input=x)
    bconv(n, f"{name}_branch3x3dbl_1", 64, 1, input=x)
    bconv(n, f"{name}_branch3x3dbl_2", 96, 3, padding=1)
    bd = bconv(n, f"{name}_branch3x3dbl_3", 96, 3, stride=2)
    bp = n.maxpool(f"{name}_branch_pool", 3, 2, "valid", input=x)
    return n.concat(name, [b3, bd, bp])


def inception_c(n: Net, name, c7):
    x = n.last
    b1 = bconv(n, f"{name}_branch1x1", 192, 1, input=x)
    bconv(n, f"{name}_branch7x7_1", c7, 1, input=x)
    bconv(n, f"{name}_branch7x7_2", c7, [1, 7], padding=(0, 3))
    b7 = bconv(n, f"{name}_branch7x7_3", 192, [7, 1], padding=(3, 0))
    bconv(n, f"{name}_branch7x7dbl_1", c7, 1, input=x)
    bconv(n, f"{name}_branch7x7dbl_2", c7, [7, 1], padding=(3, 0))
    bconv(n, f"{name}_branch7x7dbl_3", c7, [1, 7], padding=(0, 3))
    bconv(n, f"{name}_branch7x7dbl_4", c7, [7, 1], padding=(3, 0))
    bd = bconv(n, f"{name}_branch7x7dbl_5", 192, [1, 7], padding=(0, 3))
    n.avgpool(f"{name}_branch_pool_avg", 3, 1, pad4(1), input=x)
    bp = bconv(n, f"{name}_branch_pool", 192, 1)
    return n.concat(name, [b1, b7, bd, bp])


def inception_d(n: Net, name):
    x = n.last
    bconv(n, f"{name}_branch3x3_1", 192, 1, input=x)
    b3 = bconv(n, f"{name}_branch3x3_2", 320, 3, stride=2)
    bconv(n, f"{name}_branch7x7x3_1", 192, 1, input=x)
    bconv(n, f"{name}_branch7x7x3_2", 192, [1, 7], padding=(0, 3))
    bconv(n, f"{name}_branch7x7x3_3", 192, [7, 1], padding=(3, 0))
    b7 = bconv(n, f"{name}_branch7x7x3_4", 192, 3, stride=2)
    bp = n.maxpool(f"{name}_branch_pool", 3, 2, "valid", input=x)
    return n.concat(name, [b3, b7, bp])


def inception_e(n: Net, name):
    x = n.last
    b1 = bconv(n, f"{name}_branch1x1", 320, 1, input=x)
    s = bconv(n, f"{name}_branch3x3_1", 384, 1, input=x)
    b3a = bconv(n, f"{name}_branch3x3_2a", 384, [1, 3], padding=(0, 1), input=s)
    b3b = bconv(n, f"{name}_branch3x3_2b", 384, [3, 1], padding=(1, 0), input=s)
    bconv(n, f"{name}_branch3x3dbl_1", 448, 1, input=x)
    d = bconv(n, f"{name}_branch3x3dbl_2", 384, 3, padding=1)
    bda = bconv(n, f"{name}_branch3x3dbl_3a", 384, [1, 3], padding=(0, 1), input=d)
    bdb = bconv(n, f"{name}_branch3x3dbl_3b", 384, [3, 1], padding=(1, 0), input=d)
    n.avgpool(f"{name}_branch_pool_avg", 3, 1, pad4(1), input=x)
    bp = bconv(n, f"{name}_branch_pool", 192, 1)
    # torchvision concatenates [1x1, cat(3x3_2a, 3x3_2b), cat(3a, 3b), pool];
    # one flat concat gives the same channel order.
    return n.concat(name, [b1, b3a, b3b, bda, bdb, bp])


def inception_v3() -> Net:
    n = Net(
        "inception_v3", "Inception-v3 299 (no aux classifier)",
        "Szegedy et al. 2015, arXiv:1512.00567, Table 1 / Figures 5-7; "
        "torchvision.models.inception_v3 (5.7 G MACs; 23.8M params without "
        "the auxiliary classifier)",
        "Inception-v3 (299x299, no aux classifier), Szegedy et al. 2015 / torchvision.models.inception_v3",
        5_700_000_000, 23_800_000, [1, 299, 299, 3])
    bconv(n, "Conv2d_1a_3x3", 32, 3, stride=2)
    bconv(n, "Conv2d_2a_3x3", 32, 3)
    bconv(n, "Conv2d_2b_3x3", 64, 3, padding=1)
    n.maxpool("maxpool1", 3, 2, "valid")
    bconv(n, "Conv2d_3b_1x1", 80, 1)
    bconv(n, "Conv2d_4a_3x3", 192, 3)
    n.maxpool("maxpool2", 3, 2, "valid")
    inception_a(n, "Mixed_5b", 32)
    inception_a(n, "Mixed_5c", 64)
    inception_a(n, "Mixed_5d", 64)
    inception_b(n, "Mixed_6a")
    inception_c(n, "Mixed_6b", 128)
    inception_c(n, "Mixed_6c", 160)
    inception_c(n, "Mixed_6d", 160)
    inception_c(n, "Mixed_6e", 192)
    inception_d(n, "Mixed_7a")
    inception_e(n, "Mixed_7b")
    inception_e(n, "Mixed_7c")
    n.mean("avgpool", keep_dims=False)
    n.fc("fc", 1000)
    n.softmax()
    return n


NETWORKS = [mnv1, mnv2, resnet18, resnet50, squeezenet, vgg16, inception_v3, alexnet]


# ---- TOML emission ----------------------------------------------------------

def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        raise TypeError("emit integers, not floats")
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot emit {v!r}")


def emit(n: Net) -> str:
    out = [f"# {n.comment}"]
    out.append("# Generated by models/gen/generate.py -- edit the generator, not this file.")
    out.append(f"name = {toml_value(n.name)}")
    out.append(f"title = {toml_value(n.title)}")
    out.append(f"source = {toml_value(n.source)}")
    out.append(f"published_macs = {n.published_macs}")
    out.append(f"published_params = {n.published_params}")
    out.append(f'input = {{ name = "input", shape = {toml_value(n.input_shape)} }}')
    if n.scaling:
        out.append("")
        out.append("[scaling]")
        for k in ("width_multiplier", "width_divisor", "resolution"):
            out.append(f"{k} = {toml_value(n.scaling[k])}")
    for layer in n.layers:
        unknown = set(layer) - set(KEY_ORDER)
        assert not unknown, (layer["name"], unknown)
        out.append("")
        out.append("[[layer]]")
        for k in KEY_ORDER:
            if k in layer:
                out.append(f"{k} = {toml_value(layer[k])}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Checker (reads only the TOML files)
# --------------------------------------------------------------------------

TOP_KEYS = {"name", "title", "source", "published_macs", "published_params",
            "input", "scaling", "layer"}
COMMON = {"name", "op", "input", "fixed_width"}
OP_KEYS = {
    "conv2d": {"filters", "expand", "kernel", "stride", "padding", "dilation", "groups",
               "bias", "activation"},
    "depthwise": {"kernel", "stride", "padding", "dilation", "multiplier",
                  "bias", "activation"},
    "fc": {"units", "bias", "activation"},
    "add": {"inputs", "activation"},
    "concat": {"inputs", "axis"},
    "maxpool": {"kernel", "stride", "padding"},
    "avgpool": {"kernel", "stride", "padding"},
    "mean": {"axes", "keep_dims"},
    "pad": {"pads"},
    "reshape": {"shape"},
    "softmax": set(),
}
ACTIVATIONS = {"none", "relu", "relu6"}


class CheckError(Exception):
    pass


def pair(v, what):
    if isinstance(v, int) and not isinstance(v, bool):
        return v, v
    if (isinstance(v, list) and len(v) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
        return v[0], v[1]
    raise CheckError(f"bad {what}: {v!r}")


def out_dim(size, k, s, d, pad):
    """Output size and (before, after) padding along one axis."""
    eff = (k - 1) * d + 1
    if pad == "same":
        o = -(-size // s)
        total = max((o - 1) * s + eff - size, 0)
        return o, (total // 2, total - total // 2)
    if pad == "valid":
        before, after = 0, 0
    else:
        before, after = pad
    o = (size + before + after - eff) // s + 1
    if o < 1:
        raise CheckError(f"non-positive output size {o}")
    return o, (before, after)


def window(layer, shape):
    kh, kw = pair(layer.get("kernel"), "kernel")
    sh, sw = pair(layer.get("stride", 1), "stride")
    dh, dw = pair(layer.get("dilation", 1), "dilation")
    pad = layer.get("padding", "valid")
    if isinstance(pad, str):
        if pad not in ("same", "valid"):
            raise CheckError(f"bad padding {pad!r}")
        ph = pw = pad
    else:
        if not (isinstance(pad, list) and len(pad) == 4
                and all(isinstance(x, int) and x >= 0 for x in pad)):
            raise CheckError(f"bad padding {pad!r}")
        ph, pw = (pad[0], pad[1]), (pad[2], pad[3])
    _, h, w, _ = shape
    oh, _ = out_dim(h, kh, sh, dh, ph)
    ow, _ = out_dim(w, kw, sw, dw, pw)
    return (kh, kw), oh, ow


def check_file(path: Path) -> dict:
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    if doc.get("name") != path.stem:
        raise CheckError(f"name {doc.get('name')!r} != file stem {path.stem!r}")
    r = check_doc(doc)
    for tensor, want in EXPECTED_SHAPES.get(doc["name"], {}).items():
        got = r["shapes"].get(tensor)
        if got != want:
            raise CheckError(f"tensor {tensor}: shape {got} != reference {want}")
    return r


def check_doc(doc: dict) -> dict:
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise CheckError(f"unknown top-level keys {sorted(unknown)}")
    for k in ("name", "title", "source"):
        if not isinstance(doc.get(k), str) or not doc[k]:
            raise CheckError(f"missing/empty {k}")
    for k in ("published_macs", "published_params"):
        if not isinstance(doc.get(k), int):
            raise CheckError(f"{k} must be an integer")
    inp = doc["input"]
    if set(inp) != {"name", "shape"} or len(inp["shape"]) != 4 or inp["shape"][0] != 1:
        raise CheckError(f"bad input {inp!r}")
    if "scaling" in doc:
        sc = doc["scaling"]
        if set(sc) - {"width_multiplier", "width_divisor", "resolution"}:
            raise CheckError(f"bad scaling keys {sorted(sc)}")

    shapes = {inp["name"]: list(inp["shape"])}
    prev = inp["name"]
    macs = params = weights = 0
    for i, layer in enumerate(doc["layer"]):
        name = layer.get("name")
        op = layer.get("op")
        where = f"layer {i} ({name})"
        if not isinstance(name, str) or name in shapes:
            raise CheckError(f"{where}: missing or duplicate name")
        if op not in OP_KEYS:
            raise CheckError(f"{where}: unknown op {op!r}")
        unknown = set(layer) - COMMON - OP_KEYS[op]
        if unknown:
            raise CheckError(f"{where}: keys {sorted(unknown)} not allowed for {op}")
        if layer.get("activation", "none") not in ACTIVATIONS:
            raise CheckError(f"{where}: bad activation")
        if op in ("add", "concat"):
            if "input" in layer or len(layer.get("inputs", [])) < 2:
                raise CheckError(f"{where}: {op} needs inputs = [...] (>= 2)")
            srcs = layer["inputs"]
        else:
            srcs = [layer.get("input", prev)]
        for s in srcs:
            if s not in shapes:
                raise CheckError(f"{where}: unknown input {s!r}")
        ins = [shapes[s] for s in srcs]
        x = ins[0]
        bias = layer.get("bias", True)
        try:
            if op == "conv2d":
                if len(x) != 4:
                    raise CheckError("conv2d input must be NHWC")
                groups = layer.get("groups", 1)
                cin = x[3]
                if ("filters" in layer) == ("expand" in layer):
                    raise CheckError("conv2d needs exactly one of filters / expand")
                cout = layer["filters"] if "filters" in layer else cin * layer["expand"]
                if cin % groups or cout % groups:
                    raise CheckError("channels not divisible by groups")
                (kh, kw), oh, ow = window(layer, x)
                w = cout * (cin // groups) * kh * kw
                macs += oh * ow * w
                weights += w
                params += w + (cout if bias else 0)
                y = [1, oh, ow, cout]
            elif op == "depthwise":
                m = layer.get("multiplier", 1)
                cout = x[3] * m
                (kh, kw), oh, ow = window(layer, x)
                w = cout * kh * kw
                macs += oh * ow * w
                weights += w
                params += w + (cout if bias else 0)
                y = [1, oh, ow, cout]
            elif op == "fc":
                fin = math.prod(x[1:])
                u = layer["units"]
                macs += fin * u
                weights += fin * u
                params += fin * u + (u if bias else 0)
                y = [1, u]
            elif op == "add":
                if any(s != x for s in ins):
                    raise CheckError(f"add shape mismatch {ins}")
                y = list(x)
            elif op == "concat":
                ax = layer.get("axis", 3)
                if ax != 3:
                    raise CheckError("only channel concat expected")
                if any(s[:3] != x[:3] for s in ins):
                    raise CheckError(f"concat spatial mismatch {ins}")
                y = x[:3] + [sum(s[3] for s in ins)]
            elif op in ("maxpool", "avgpool"):
                _, oh, ow = window(layer, x)
                y = [1, oh, ow, x[3]]
            elif op == "mean":
                if layer.get("axes") != [1, 2]:
                    raise CheckError("mean axes must be [1, 2]")
                y = [1, 1, 1, x[3]] if layer.get("keep_dims") else [1, x[3]]
            elif op == "pad":
                p = layer["pads"]
                y = [a + b + c for a, (b, c) in zip(x, p)]
            elif op == "reshape":
                tgt = list(layer["shape"])
                total = math.prod(x)
                if tgt.count(-1) == 1:
                    known = -math.prod(tgt)
                    tgt[tgt.index(-1)] = total // known
                if math.prod(tgt) != total:
                    raise CheckError(f"bad reshape {x} -> {tgt}")
                y = tgt
            elif op == "softmax":
                y = list(x)
        except CheckError as e:
            raise CheckError(f"{where}: {e}") from None
        except KeyError as e:
            raise CheckError(f"{where}: missing key {e}") from None
        shapes[name] = y
        prev = name
    last = doc["layer"][-1]
    if last["op"] != "softmax":
        raise CheckError("network must end with softmax")
    if shapes[prev] != [1, 1000]:
        raise CheckError(f"final output shape {shapes[prev]} != [1, 1000]")
    # every tensor except the output must be consumed
    used = set()
    p = inp["name"]
    for layer in doc["layer"]:
        used.update(layer.get("inputs", [layer.get("input", p)]))
        p = layer["name"]
    dangling = [n for n in shapes if n not in used and n != prev]
    if dangling:
        raise CheckError(f"unused tensors: {dangling}")
    return {
        "name": doc["name"], "title": doc["title"], "macs": macs,
        "params": params, "weights": weights, "layers": len(doc["layer"]),
        "pub_macs": doc["published_macs"], "pub_params": doc["published_params"],
        "shapes": shapes,
    }


# Feature-map shapes (NHWC) at block boundaries as given by the papers /
# reference implementations; an independent check on the layer definitions.
EXPECTED_SHAPES = {
    "mnv1": {"conv0": [1, 112, 112, 32], "conv1_pw": [1, 112, 112, 64],
             "conv2_pw": [1, 56, 56, 128], "conv4_pw": [1, 28, 28, 256],
             "conv6_pw": [1, 14, 14, 512], "conv11_pw": [1, 14, 14, 512],
             "conv13_pw": [1, 7, 7, 1024]},
    "mnv2": {"conv0": [1, 112, 112, 32], "block0_project": [1, 112, 112, 16],
             "block2_add": [1, 56, 56, 24], "block5_add": [1, 28, 28, 32],
             "block9_add": [1, 14, 14, 64], "block12_add": [1, 14, 14, 96],
             "block15_add": [1, 7, 7, 160], "block16_project": [1, 7, 7, 320],
             "conv_last": [1, 7, 7, 1280]},
    "resnet18": {"conv1": [1, 112, 112, 64], "maxpool": [1, 56, 56, 64],
                 "layer1_1": [1, 56, 56, 64], "layer2_1": [1, 28, 28, 128],
                 "layer3_1": [1, 14, 14, 256], "layer4_1": [1, 7, 7, 512]},
    "resnet50": {"maxpool": [1, 56, 56, 64], "layer1_2": [1, 56, 56, 256],
                 "layer2_3": [1, 28, 28, 512], "layer3_5": [1, 14, 14, 1024],
                 "layer4_2": [1, 7, 7, 2048]},
    "squeezenet": {"conv1": [1, 111, 111, 64], "pool1": [1, 55, 55, 64],
                   "fire3": [1, 55, 55, 128], "pool3": [1, 27, 27, 128],
                   "fire5": [1, 27, 27, 256], "pool5": [1, 13, 13, 256],
                   "fire9": [1, 13, 13, 512], "conv10": [1, 13, 13, 1000]},
    "vgg16": {"pool1": [1, 112, 112, 64], "pool2": [1, 56, 56, 128],
              "pool3": [1, 28, 28, 256], "pool4": [1, 14, 14, 512],
              "pool5": [1, 7, 7, 512], "fc7": [1, 4096]},
    "alexnet": {"conv1": [1, 55, 55, 96], "pool1": [1, 27, 27, 96],
                "conv2": [1, 27, 27, 256], "pool2": [1, 13, 13, 256],
                "conv5": [1, 13, 13, 256], "pool5": [1, 6, 6, 256], "fc7": [1, 4096]},
    "inception_v3": {"Conv2d_1a_3x3": [1, 149, 149, 32],
                     "Conv2d_2b_3x3": [1, 147, 147, 64],
                     "maxpool1": [1, 73, 73, 64], "Conv2d_4a_3x3": [1, 71, 71, 192],
                     "maxpool2": [1, 35, 35, 192], "Mixed_5b": [1, 35, 35, 256],
                     "Mixed_5d": [1, 35, 35, 288], "Mixed_6a": [1, 17, 17, 768],
                     "Mixed_6e": [1, 17, 17, 768], "Mixed_7a": [1, 8, 8, 1280],
                     "Mixed_7c": [1, 8, 8, 2048]},
}


def make_divisible(v, divisor):
    """Keras / TF-slim _make_divisible (min_value = divisor)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def scaled(doc: dict, alpha: float, res: int) -> dict:
    """Apply --width alpha / --resolution res as the [scaling] table describes."""
    sc = doc.get("scaling", {})
    div = sc.get("width_divisor", 1)
    doc = dict(doc)
    if sc.get("resolution"):
        n, _, _, c = doc["input"]["shape"]
        doc["input"] = {"name": doc["input"]["name"], "shape": [n, res, res, c]}
    if sc.get("width_multiplier"):
        layers = []
        for layer in doc["layer"]:
            if layer["op"] == "conv2d" and "filters" in layer and not layer.get("fixed_width", False):
                layer = dict(layer)
                f = layer["filters"] * alpha
                layer["filters"] = int(f) if div == 1 else make_divisible(f, div)
            layers.append(layer)
        doc["layer"] = layers
    return doc


# Published variants (informational; printed, not asserted).  MobileNet-v1:
# Howard et al. 2017, Tables 6 and 7 (1000 classes).  MobileNet-v2:
# tensorflow/models research/slim/nets/mobilenet README (1001 classes).
SCALING_POINTS = {
    "mnv1": [(0.75, 224, 325e6, 2.6e6), (0.5, 224, 149e6, 1.3e6),
             (0.25, 224, 41e6, 0.5e6), (1.0, 192, 418e6, 4.2e6),
             (1.0, 160, 290e6, 4.2e6), (1.0, 128, 186e6, 4.2e6)],
    "mnv2": [(1.4, 224, 582e6, 6.06e6), (0.75, 224, 209e6, 2.61e6),
             (0.5, 224, 97e6, 1.95e6), (0.35, 224, 59e6, 1.66e6),
             (1.0, 192, 221e6, 3.47e6), (1.0, 160, 154e6, 3.47e6),
             (1.0, 128, 99e6, 3.47e6), (1.0, 96, 56e6, 3.47e6)],
}


def run_scaling_report():
    print("\nwidth/resolution scaling as the loader will apply it "
          "(informational, not asserted):")
    print(f"{'network':8} {'alpha':>5} {'res':>4} {'MACs':>10} {'published':>10}"
          f" {'diff':>7} {'params':>9} {'published':>9} {'diff':>7}")
    for name, points in SCALING_POINTS.items():
        with open(MODELS_DIR / f"{name}.toml", "rb") as f:
            doc = tomllib.load(f)
        for alpha, res, pm, pp in points:
            r = check_doc(scaled(doc, alpha, res))
            print(f"{name:8} {alpha:5} {res:4d} {r['macs'] / 1e6:9.1f}M {pm / 1e6:9.1f}M"
                  f" {r['macs'] / pm - 1:+7.1%} {r['params'] / 1e6:8.3f}M"
                  f" {pp / 1e6:8.2f}M {r['params'] / pp - 1:+7.1%}")


def fmt(v):
    return f"{v / 1e9:.3f} G" if v >= 1e9 else f"{v / 1e6:.3f} M"


def run_check(names) -> bool:
    ok = True
    print(f"{'network':14} {'layers':>6} {'MACs':>12} {'published':>12} {'diff':>7}"
          f" {'params':>10} {'published':>10} {'diff':>7}  (weights only)")
    for name in names:
        path = MODELS_DIR / f"{name}.toml"
        try:
            r = check_file(path)
        except (CheckError, OSError, tomllib.TOMLDecodeError) as e:
            print(f"{name:14} FAILED: {e}")
            ok = False
            continue
        dm = r["macs"] / r["pub_macs"] - 1
        dp = r["params"] / r["pub_params"] - 1
        good = abs(dm) <= 0.01 and abs(dp) <= 0.01
        ok &= good
        print(f"{name:14} {r['layers']:6d} {r['macs']:12,d} {r['pub_macs']:12,d}"
              f" {dm:+7.2%} {r['params']:10,d} {r['pub_params']:10,d} {dp:+7.2%}"
              f"  ({r['weights']:,d}){'' if good else '  <-- more than 1% off'}")
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="only check the TOML files on disk (also reports stale files)")
    args = ap.parse_args(argv)
    nets = [f() for f in NETWORKS]
    stale = []
    for n in nets:
        path = MODELS_DIR / f"{n.name}.toml"
        text = emit(n)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(MODELS_DIR.parent)}")
    ok = run_check([n.name for n in nets])
    if ok:
        run_scaling_report()
    if stale:
        print(f"stale (differ from generator output): {', '.join(stale)}")
        ok = False
    print("OK" if ok else "CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
