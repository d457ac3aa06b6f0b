// Computes reference token ids with the official Hugging Face `tokenizers` (Rust, npm binding) for every
// prompt in prompts.json and every tokenizer variant, and writes them as the fixture the C# tests compare to.
// Usage (see README.md): node reference.mjs <path to the unpacked npm `tokenizers` package> <fixtures/tokenizers dir>
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import path from "node:path";

const [packageDir, fixtures] = process.argv.slice(2);
if (!packageDir || !fixtures) throw new Error("usage: node reference.mjs <tokenizers package dir> <fixtures/tokenizers dir>");
const { Tokenizer } = createRequire(import.meta.url)(path.resolve(packageDir));
const version = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8")).version;
const here = path.dirname(new URL(import.meta.url).pathname);
const prompts = JSON.parse(readFileSync(path.join(here, "prompts.json"), "utf8"));

// The same rule as the C# loader: a tokenizer_config.json with added_tokens_decoder defines the whole added-token set.
function load(tokenizerFile, configFile) {
  const json = JSON.parse(gunzipSync(readFileSync(path.join(fixtures, tokenizerFile))).toString("utf8"));
  if (configFile) {
    const config = JSON.parse(readFileSync(path.join(fixtures, configFile), "utf8"));
    json.added_tokens = Object.entries(config.added_tokens_decoder)
      .map(([id, t]) => ({ id: Number(id), content: t.content, single_word: t.single_word, lstrip: t.lstrip,
                           rstrip: t.rstrip, normalized: t.normalized, special: t.special }))
      .sort((a, b) => a.id - b.id);
  }
  return Tokenizer.fromString(JSON.stringify(json));
}

const variants = {
  llama2: load("llama2/tokenizer.json.gz"),
  llava15_hf: load("llama2/tokenizer.json.gz", "llava15_hf/tokenizer_config.json"),
  qwen25vl: load("qwen/tokenizer.json.gz", "qwen25vl/tokenizer_config.json"),
  internvl3: load("qwen/tokenizer.json.gz", "internvl3/tokenizer_config.json"),
};

const out = { generator: `tools/tokenizer-reference/reference.mjs with Hugging Face tokenizers ${version} (npm)`, variants: {} };
for (const [name, tokenizer] of Object.entries(variants)) {
  const cases = [];
  for (const p of prompts) {
    const withSpecial = (await tokenizer.encode(p.text, null, { addSpecialTokens: true })).getIds();
    const plain = await tokenizer.encode(p.text, null, { addSpecialTokens: false });
    cases.push({
      name: p.name, text: p.text,
      ids: withSpecial,
      ids_without_special: plain.getIds(),
      tokens_without_special: plain.getTokens(),
      decoded: await tokenizer.decode(plain.getIds(), false),
      decoded_skip_special: await tokenizer.decode(withSpecial, true),
    });
  }
  out.variants[name] = cases;
}

// LLaVA's tokenizer_image_token: split on "<image>", encode each chunk with BOS, keep only the first chunk's BOS,
// and put the sentinel -200 between chunks. Computed with the plain LLaMA-2 tokenizer (no <image> token).
const llama = variants.llama2;
out.llava_image_token = [];
for (const p of prompts.filter(p => p.text.includes("<image>"))) {
  const chunks = [];
  for (const c of p.text.split("<image>")) chunks.push((await llama.encode(c, null, { addSpecialTokens: true })).getIds());
  const offset = chunks.length > 0 && chunks[0].length > 0 && chunks[0][0] === 1 ? 1 : 0;
  const ids = offset ? [chunks[0][0]] : [];
  chunks.forEach((c, i) => { if (i > 0) ids.push(-200); ids.push(...c.slice(offset)); });
  out.llava_image_token.push({ name: p.name, text: p.text, image_token_id: -200, ids });
}

// Seeded random texts (mulberry32) from words in many scripts, with runs of punctuation and odd whitespace, to test
// the encoders beyond the hand-written prompts. Ids without special tokens.
const words = ["the", "image", "What", "is", "in", "colour", "square", "Answer", "option's", "don't", "we'll", "naïve", "café",
  "Straße", "東京", "图像", "描述", "こんにちは", "한국어", "Привет", "مرحبا", "🦙", "🎉", "👍🏽", "🌍", "𝕜", "√", "½", "x²", "3.14",
  "2024", "1,000", "#", "**", "****", "...", ".....", "--", "----", "==", "(a)", "[b]", "{c}", "<tag>", "e\u0301", "\u00a0", "ﬁ",
  "!!", "??", "~~~", "____", "''", "\"\""];
const gaps = [" ", " ", " ", "  ", "\n", "\t", "\r\n", "", ", ", ". ", "? ", "   ", "\n\n"];
function mulberry32(seed) {
  return () => { seed |= 0; seed = seed + 0x6D2B79F5 | 0; let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t; return ((t ^ t >>> 14) >>> 0) / 4294967296; };
}
const random = mulberry32(20261128), pick = a => a[Math.floor(random() * a.length)];
const randomTexts = [];
for (let i = 0; i < 400; i++) {
  let text = random() < 0.25 ? pick(gaps) : "";
  const n = 1 + Math.floor(random() * 14);
  for (let w = 0; w < n; w++) text += (random() < 0.2 ? pick(words).toUpperCase() : pick(words)) + pick(gaps);
  randomTexts.push(text);
}
out.random_texts = { seed: 20261128, count: randomTexts.length, variants: {} };
for (const name of ["llama2", "qwen25vl"]) {
  const rows = [];
  for (const text of randomTexts) rows.push({ text, ids: (await variants[name].encode(text, null, { addSpecialTokens: false })).getIds() });
  out.random_texts.variants[name] = rows;
}

// Id arrays on one line each keep the fixture readable and small.
const json = JSON.stringify(out, null, 1).replace(/\[\s+(-?\d+(?:,\s+-?\d+)*)\s+\]/g, (_, ids) => "[" + ids.replace(/\s+/g, "") + "]");
writeFileSync(path.join(fixtures, "reference_ids.json"), json + "\n");
console.log(Object.entries(out.variants).map(([k, v]) => `${k}: ${v.length} prompts`).join(", "),
            `; llava_image_token: ${out.llava_image_token.length}; random texts: ${randomTexts.length}`);
