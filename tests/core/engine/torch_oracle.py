#!/usr/bin/python3
"""PyTorch reference for tests/core/engine/torch_oracle_test.cpp.

Usage: torch_oracle.py DIR

DIR holds what the C++ test wrote:
  layout.json   {"config": {vocab_size, context, layers, heads, width}, "batch", "seq",
                 "total_count", "adamw": {lr, beta1, beta2, eps, weight_decay},
                 "tensors": [{name, shape, offset, count, decay}, ...]}
  params.bin    float32 [total_count]: the flat parameter buffer (layout above)
  tokens.bin    int32 [batch*seq];  targets.bin int32 [batch*seq] (-1 = ignore)

The script rebuilds the same GPT-2 in plain torch (nanoGPT's block, written out
functionally so that the flat layout maps to tensors by name), computes the mean
cross-entropy, every gradient and one torch.optim.AdamW step with nanoGPT's two
parameter groups (decay on ndim >= 2), and writes
  result.json   {"loss": float}
  grads.bin     float32 [total_count]  (same layout; padding 0)
  updated.bin   float32 [total_count]  (parameters after the step; padding 0)

Exit status 77 (the conventional "skipped") when torch cannot be imported.
"""
import json
import math
import os
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError as exc:  # the C++ test turns this into GTEST_SKIP
    print(f"torch_oracle: skipped, cannot import torch ({exc})", file=sys.stderr)
    sys.exit(77)


def read_flat(path, dtype, count):
    data = torch.frombuffer(bytearray(open(path, "rb").read()), dtype=dtype)
    if data.numel() != count:
        raise SystemExit(f"torch_oracle: {path} holds {data.numel()} values, expected {count}")
    return data


def write_flat(path, tensor):
    with open(path, "wb") as f:
        f.write(tensor.detach().to(torch.float32).contiguous().numpy().tobytes())


def forward(p, cfg, tokens, targets):
    """nanoGPT's GPT.forward with dropout 0, bias=True and the head tied to wte."""
    B, T = tokens.shape
    C, H, L = cfg["width"], cfg["heads"], cfg["layers"]
    pos = torch.arange(T)
    x = p["wte"][tokens] + p["wpe"][pos]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for i in range(L):
        h = f"h.{i}."
        a = F.layer_norm(x, (C,), p[h + "ln_1.weight"], p[h + "ln_1.bias"], eps=1e-5)
        qkv = F.linear(a, p[h + "attn.c_attn.weight"], p[h + "attn.c_attn.bias"])
        q, k, v = qkv.split(C, dim=2)
        q = q.view(B, T, H, C // H).transpose(1, 2)
        k = k.view(B, T, H, C // H).transpose(1, 2)
        v = v.view(B, T, H, C // H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + F.linear(y, p[h + "attn.c_proj.weight"], p[h + "attn.c_proj.bias"])
        m = F.layer_norm(x, (C,), p[h + "ln_2.weight"], p[h + "ln_2.bias"], eps=1e-5)
        m = F.gelu(F.linear(m, p[h + "mlp.c_fc.weight"], p[h + "mlp.c_fc.bias"]), approximate="tanh")
        x = x + F.linear(m, p[h + "mlp.c_proj.weight"], p[h + "mlp.c_proj.bias"])
    x = F.layer_norm(x, (C,), p["ln_f.weight"], p["ln_f.bias"], eps=1e-5)
    logits = F.linear(x, p["wte"])
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    d = sys.argv[1]
    torch.set_num_threads(1)  # the reference does not need to be fast; keep it quiet
    meta = json.load(open(os.path.join(d, "layout.json")))
    cfg, total = meta["config"], meta["total_count"]
    B, T = meta["batch"], meta["seq"]
    flat = read_flat(os.path.join(d, "params.bin"), torch.float32, total)
    tokens = read_flat(os.path.join(d, "tokens.bin"), torch.int32, B * T).long().view(B, T)
    targets = read_flat(os.path.join(d, "targets.bin"), torch.int32, B * T).long().view(B, T)

    params = {}
    for t in meta["tensors"]:
        view = flat[t["offset"]:t["offset"] + t["count"]].view(t["shape"])
        params[t["name"]] = view.clone().requires_grad_(True)

    loss = forward(params, cfg, tokens, targets)
    loss.backward()

    grads = torch.zeros(total, dtype=torch.float32)
    for t in meta["tensors"]:
        grads[t["offset"]:t["offset"] + t["count"]] = params[t["name"]].grad.reshape(-1)

    hp = meta["adamw"]
    decay = [params[t["name"]] for t in meta["tensors"] if len(t["shape"]) >= 2]
    no_decay = [params[t["name"]] for t in meta["tensors"] if len(t["shape"]) < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": hp["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])
    opt.step()

    updated = torch.zeros(total, dtype=torch.float32)
    for t in meta["tensors"]:
        updated[t["offset"]:t["offset"] + t["count"]] = params[t["name"]].detach().reshape(-1)

    write_flat(os.path.join(d, "grads.bin"), grads)
    write_flat(os.path.join(d, "updated.bin"), updated)
    json.dump({"loss": loss.item(), "torch": torch.__version__}, open(os.path.join(d, "result.json"), "w"))


if __name__ == "__main__":
    main()
