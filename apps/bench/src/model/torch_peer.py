"""The PyTorch peer of apps/bench's whole-model benchmark (src/model/cli.ts runs it).

The same model as src/model/spec.ts: nn.Transformer, pre-norm (norm_first) with final norms,
relu, dropout 0.1, one embedding table shared by source and target and tied to the output,
embeddings scaled by sqrt(d) plus sinusoidal positions; label smoothing 0.1; Adam
(0.9, 0.98, 1e-9). Modes:
  train-step: one forward + backward + Adam step on a fixed batch, loss read back.
  decode:     greedy decoding (or with --beam K, beam search over K hypotheses per sentence)
              with a KV cache per decoder layer and the memory projected once (written out
              here: nn.Transformer has no cache), `steps` decoder steps.
Prints one JSON line: samples (ms), the BLAS that torch loaded, threads, loss / tokens.
Needs Debian's python3-torch for /usr/bin/python3; OpenBLAS where libopenblas0 is installed.
"""
import argparse, json, math, time
import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = {
    "tiny": dict(d=64, heads=4, ff=128, enc=2, dec=2),
    "small": dict(d=128, heads=4, ff=512, enc=3, dec=3),
}
VOCAB, FIRST_WORD = 2000, 3


def batch_ids(B, T, salt):
    # the same ids as spec.ts batchIds
    return torch.tensor([[FIRST_WORD + ((((b * T + t) * 7919 + salt * 104729) & 0xFFFFFFFF) % (VOCAB - FIRST_WORD)) for t in range(T)] for b in range(B)])


def sinusoid(T, d, offset=0):
    pos = torch.arange(offset, offset + T, dtype=torch.float32)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float32)
    angle = pos / torch.pow(10000.0, i / d)
    pe = torch.zeros(T, d)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(angle), torch.cos(angle)
    return pe


class Model(nn.Module):
    def __init__(self, size, dropout):
        super().__init__()
        c = SIZES[size]
        self.d = c["d"]
        self.embed = nn.Embedding(VOCAB, self.d)
        nn.init.normal_(self.embed.weight, std=self.d ** -0.5)
        self.core = nn.Transformer(self.d, c["heads"], c["enc"], c["dec"], c["ff"], dropout, batch_first=True, norm_first=True)
        self.drop = nn.Dropout(dropout)

    def emb(self, ids, offset=0):
        return self.drop(self.embed(ids) * math.sqrt(self.d) + sinusoid(ids.shape[1], self.d, offset))

    def forward(self, src, tin):
        mask = self.core.generate_square_subsequent_mask(tin.shape[1])
        h = self.core(self.emb(src), self.emb(tin), tgt_mask=mask)
        return h @ self.embed.weight.T


def blas_loaded():
    with open("/proc/self/maps") as f:
        maps = f.read()
    for name in ("openblas", "mkl", "blis", "libblas"):
        if name in maps:
            return {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS", "libblas": "reference BLAS"}[name]
    return "unknown"


def train_step(a):
    model = Model(a.size, 0.1).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98), eps=1e-9)
    src, tin, tout = (batch_ids(a.B, a.T, s) for s in (1, 2, 3))

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(src, tin)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tout.reshape(-1), label_smoothing=0.1)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def mha_project(attn, x, which):
    d = attn.embed_dim
    w, b = attn.in_proj_weight[which * d:(which + 1) * d], attn.in_proj_bias[which * d:(which + 1) * d]
    B, T, _ = x.shape
    return F.linear(x, w, b).view(B, T, attn.num_heads, d // attn.num_heads).transpose(1, 2)  # [B, H, T, hd]


def mha_attend(attn, q, k, v):
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1)
    B, H, T, hd = q.shape
    return attn.out_proj((w @ v).transpose(1, 2).reshape(B, T, H * hd))


def decode(a):
    model = Model(a.size, 0.0).eval()
    src = batch_ids(a.B, a.T, 4)
    K = a.beam

    @torch.no_grad()
    def run():
        memory = model.core.encoder(model.emb(src))
        if K > 1:
            memory = memory.repeat_interleave(K, 0)  # [B*K, Ts, d]: each sentence's K hypotheses
        layers = model.core.decoder.layers
        mem_kv = [(mha_project(l.multihead_attn, memory, 1), mha_project(l.multihead_attn, memory, 2)) for l in layers]
        cache = [None] * len(layers)
        ids = torch.full((a.B * K, 1), 1, dtype=torch.long)
        # beam scores [B, K]; only the first hypothesis of each sentence is live at the start
        scores = torch.full((a.B, K), float("-inf"))
        scores[:, 0] = 0
        for t in range(a.steps):
            h = model.emb(ids, offset=t)
            for i, l in enumerate(layers):
                x = l.norm1(h)
                q, k, v = (mha_project(l.self_attn, x, j) for j in range(3))
                if cache[i] is not None:
                    k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
                cache[i] = (k, v)
                h = h + mha_attend(l.self_attn, q, k, v)
                h = h + mha_attend(l.multihead_attn, mha_project(l.multihead_attn, l.norm2(h), 0), *mem_kv[i])
                h = h + l.linear2(F.relu(l.linear1(l.norm3(h))))
            logits = model.core.decoder.norm(h)[:, -1] @ model.embed.weight.T
            logp = torch.log_softmax(logits, -1)  # [B*K, V]
            if K == 1:
                ids = logp.argmax(-1, keepdim=True)
                continue
            # the K best continuations of each sentence over its K hypotheses, the caches reordered to them
            total = (scores.reshape(-1, 1) + logp).reshape(a.B, -1)  # [B, K*V]
            scores, best = total.topk(K, -1)  # [B, K]
            parents = (best // VOCAB + torch.arange(a.B)[:, None] * K).reshape(-1)  # [B*K]
            cache = [(k.index_select(0, parents), v.index_select(0, parents)) for k, v in cache]
            ids = (best % VOCAB).reshape(-1, 1)
        return a.steps

    return run


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["train-step", "decode"], required=True)
    p.add_argument("--size", choices=list(SIZES), default="tiny")
    p.add_argument("--B", type=int, default=64)
    p.add_argument("--T", type=int, default=20)
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--beam", type=int, default=1)
    a = p.parse_args()
    torch.manual_seed(1)
    torch.set_num_threads(a.threads)
    f = train_step(a) if a.mode == "train-step" else decode(a)
    for _ in range(a.warmup):
        f()
    samples, last = [], None
    for _ in range(a.samples):
        t0 = time.perf_counter()
        last = f()
        samples.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"samplesMs": samples, "blas": blas_loaded(), "threads": torch.get_num_threads(), "torch": torch.__version__, "last": last}))


if __name__ == "__main__":
    main()
