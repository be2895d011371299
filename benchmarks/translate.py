"""Latency of Chinese prompt translation on this CPU: glossary only, the tiny MarianMT, the real model.

Usage: python benchmarks/translate.py [--threads 1] [--repeat 3] [--model Helsinki-NLP/opus-mt-zh-en]
                                     [--no-full-size] [--tokens 32]

For each path it translates 12 museum-shop prompts (parse + protect + translate + restore, what the
studio does per request) and reports the model load time and the per-prompt latency (median and
max over all prompts and repeats). The real model is measured only where it is in the Hugging Face
cache or given as a local folder; nothing is downloaded. Where it is not, a random MarianMT with
opus-mt-zh-en's dimensions (d_model 512, 6+6 layers, 8 heads, FFN 2048, 65001 tokens, 4 beams)
stands in, decoding exactly --tokens tokens per sentence: the same arithmetic as the real model
for an English prompt of that length (random weights never stop early, so the length is forced).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

PROMPTS = [
    "三星堆青铜纵目面具鼠标垫，上面写着“三星堆”，红色背景",
    "太阳神鸟金饰上写着“天路”",
    "卡通青铜树，上方写着“神树”",
    "回纹和祥云图案的帆布袋，写着「金沙」和「太阳」，极简风格",
    "饕餮纹冰箱贴，写着『国潮』，金色",
    "故宫博物院明信片，印着“紫禁城”，雪景，复古风格",
    "敦煌飞天丝巾，蓝色背景，写着“敦煌”",
    "青花瓷书签，写着“青花”和“瓷韵”，白色背景",
    "兵马俑钥匙扣，底座刻着“秦”",
    "熊猫帆布袋，写着“成都”和“CHENGDU”，可爱卡通风格",
    "宋代山水画风格的雨伞，伞面写着“千里江山”",
    "良渚玉琮纹样的杯垫，写着“良渚”，产品摄影，特写",
]


def measure(label: str, repeat: int, **options) -> dict:
    from wenchuang.prompts import prompt_for_model

    prompt_for_model(PROMPTS[0], **options)  # warm-up (and model load where there is one)
    times = []
    for _ in range(repeat):
        for prompt in PROMPTS:
            start = time.perf_counter()
            prompt_for_model(prompt, **options)
            times.append((time.perf_counter() - start) * 1000)
    return {"path": label, "median_ms": statistics.median(times), "max_ms": max(times), "n": len(times)}


def real_missing(model: str | None) -> bool:
    from wenchuang.errors import ModelError
    from wenchuang.prompts.translate import resolve_model_folder, translator_name

    try:
        resolve_model_folder(translator_name(model))
    except ModelError:
        return True
    return False


def build_sized_marian(tiny_folder, tmp: str, tokens: int):
    """opus-mt-zh-en's shapes with random weights, the tiny tokenizer; returns (translator, load s)."""
    import shutil
    from pathlib import Path

    import torch
    from transformers import MarianConfig, MarianMTModel

    from wenchuang.prompts import MarianTranslator

    folder = Path(tmp) / "sized"
    folder.mkdir()
    for name in ("source.spm", "target.spm", "tokenizer_config.json"):
        shutil.copy(Path(tiny_folder) / name, folder / name)
    vocab = json.loads((Path(tiny_folder) / "vocab.json").read_text(encoding="utf-8"))
    for i in range(len(vocab), 65001):  # opus-mt's vocabulary size: dummy words decode any id
        vocab[f"\u2581w{i}"] = i
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    config = MarianConfig(
        vocab_size=65001,
        d_model=512,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=8,
        decoder_attention_heads=8,
        encoder_ffn_dim=2048,
        decoder_ffn_dim=2048,
        max_position_embeddings=512,
        pad_token_id=2,
        eos_token_id=0,
        decoder_start_token_id=2,
        forced_eos_token_id=0,
    )
    torch.manual_seed(0)
    MarianMTModel(config).save_pretrained(folder)
    start = time.perf_counter()
    translator = MarianTranslator(folder, max_new_tokens=tokens, num_beams=4)
    seconds = time.perf_counter() - start
    translator.model.generation_config.min_new_tokens = tokens
    return translator, seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the 12 prompts (default 3)")
    parser.add_argument("--model", default=None, help="real model: hub id in the cache or a local folder")
    parser.add_argument("--no-full-size", action="store_true", help="skip the opus-mt-sized random model")
    parser.add_argument("--tokens", type=int, default=32, help="tokens per sentence for the sized model")
    args = parser.parse_args()

    import torch

    from wenchuang.errors import ModelError
    from wenchuang.prompts import MarianTranslator
    from wenchuang.prompts.tiny import build_tiny_marian
    from wenchuang.prompts.translate import resolve_model_folder, translator_name

    torch.set_num_threads(args.threads)
    rows, loads = [], {}
    rows.append(measure("glossary only", args.repeat, use_model=False))

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tiny_marian(tmp)
        start = time.perf_counter()
        tiny = MarianTranslator(folder)
        loads["tiny MarianMT (d_model 16, 1+1 layers)"] = time.perf_counter() - start
        rows.append(measure("tiny MarianMT (d_model 16, 1+1 layers)", args.repeat, translator=tiny))
        if not args.no_full_size and real_missing(args.model):
            label = f"random MarianMT, opus-mt-zh-en size, {args.tokens} tokens/sentence, 4 beams"
            sized = build_sized_marian(folder, tmp, args.tokens)
            loads[label] = sized[1]
            rows.append(measure(label, 1, translator=sized[0]))

    name = translator_name(args.model)
    try:
        resolve_model_folder(name)
    except ModelError as exc:
        print(f"real model skipped: {exc}")
    else:
        start = time.perf_counter()
        real = MarianTranslator(name)
        loads[name] = time.perf_counter() - start
        rows.append(measure(name, args.repeat, translator=real))

    print(f"torch threads: {args.threads}; {len(PROMPTS)} prompts x {args.repeat} passes")
    for label, seconds in loads.items():
        print(f"load  {label}: {seconds:.2f} s")
    print("| path | median ms/prompt | max ms/prompt | prompts |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['path']} | {row['median_ms']:.2f} | {row['max_ms']:.2f} | {row['n']} |")


if __name__ == "__main__":
    main()
