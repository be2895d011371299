"""A tiny random MarianMT (real SentencePiece files, real tokenizer and model classes), built in code.

For tests, benchmarks and offline smoke checks of the translation path: its output is noise, but it
loads, tokenises and generates exactly like ``Helsinki-NLP/opus-mt-zh-en`` does. Imports
sentencepiece, torch and transformers when called.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

CORPUS = [
    "三星堆青铜纵目面具鼠标垫，上面写着",
    "太阳神鸟金饰上写着，红色背景",
    "卡通青铜树，上方写着，极简风格",
    "回纹和祥云图案的帆布袋，书签，明信片，冰箱贴",
    "a mouse pad with the words ZZ0 and ZZ1, red background",
    "a bronze tree, bookmark, postcard, fridge magnet, canvas tote bag",
]


def build_tiny_marian(folder: str | Path, seed: int = 0) -> Path:
    """Train two tiny SentencePiece models, build a MarianTokenizer and a random MarianMTModel."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for side in ("source", "target"):
        buffer = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(CORPUS * 10),
            model_writer=buffer,
            vocab_size=120,
            hard_vocab_limit=False,
            character_coverage=1.0,
            model_type="unigram",
            minloglevel=2,
        )
        (folder / f"{side}.spm").write_bytes(buffer.getvalue())
    vocab = {"</s>": 0, "<unk>": 1, "<pad>": 2}
    for side in ("source", "target"):
        processor = spm.SentencePieceProcessor(model_file=str(folder / f"{side}.spm"))
        for i in range(processor.get_piece_size()):
            vocab.setdefault(processor.id_to_piece(i), len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = MarianTokenizer(
        source_spm=str(folder / "source.spm"),
        target_spm=str(folder / "target.spm"),
        vocab=str(folder / "vocab.json"),
        source_lang="zh",
        target_lang="en",
    )
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=128,
        pad_token_id=2,
        eos_token_id=0,
        decoder_start_token_id=2,
        forced_eos_token_id=0,
    )
    torch.manual_seed(seed)
    model = MarianMTModel(config).eval()
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder
