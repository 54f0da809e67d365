"""``sra-seg devices``: what PyTorch can train on here (the app asks this in a separate process, so its own window
never has to import torch)."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    p = sub.add_parser("devices", help="list the devices PyTorch can train on (CUDA GPUs, CPU)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.add_argument("--events", metavar="FILE",
                   help="write a done event carrying the result as a JSON line ('-' = stdout)")
    p.set_defaults(func=run)


def describe_devices() -> dict:
    import os

    import torch

    gpus = []
    if torch.cuda.is_available():
        for k in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(k)
            gpus.append({"index": k, "name": props.name, "memory_gb": round(props.total_memory / 2**30, 1),
                         "bf16": torch.cuda.is_bf16_supported()})
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "gpus": gpus,
            "cpu_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "default": "cuda" if gpus else "cpu"}


def run(args: argparse.Namespace) -> int:
    info = describe_devices()
    if args.events:
        from sra_seg_core.events import Event, JsonLinesSink

        sink = JsonLinesSink(args.events)
        sink(Event("done", stage="devices", status="finished", device=info["default"], result=info))
        sink.close()
        return 0
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"PyTorch {info['torch']} (CUDA {info['cuda'] or 'not built in'})")
    for gpu in info["gpus"]:
        print(f"  cuda:{gpu['index']}  {gpu['name']}  {gpu['memory_gb']} GB{'  bf16' if gpu['bf16'] else ''}")
    print(f"  cpu      {info['cpu_threads']} threads")
    print(f"default: {info['default']}")
    return 0
