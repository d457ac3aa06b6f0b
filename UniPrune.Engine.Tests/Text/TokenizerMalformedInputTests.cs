using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using UniPrune.Engine.Core;
using UniPrune.Engine.Text;

namespace UniPrune.Engine.Tests.Text;

/// <summary>Bad tokenizer files fail with an exception whose message names the file and the problem.</summary>
public class TokenizerMalformedInputTests
{
    // A complete small LLaMA-layout file; each test breaks one thing.
    private static JsonObject ValidLlamaLayout() => new()
    {
        ["version"] = "1.0",
        ["added_tokens"] = new JsonArray(
            new JsonObject { ["id"] = 0, ["content"] = "<unk>", ["special"] = true },
            new JsonObject { ["id"] = 1, ["content"] = "<s>", ["special"] = true }),
        ["normalizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["normalizers"] = new JsonArray(
                new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
        },
        ["pre_tokenizer"] = null,
        ["post_processor"] = null,
        ["decoder"] = new JsonObject { ["type"] = "Sequence", ["decoders"] = new JsonArray(new JsonObject { ["type"] = "Fuse" }) },
        ["model"] = new JsonObject
        {
            ["type"] = "BPE",
            ["unk_token"] = "<unk>",
            ["byte_fallback"] = true,
            ["vocab"] = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["▁"] = 2, ["a"] = 3, ["▁a"] = 4 },
            ["merges"] = new JsonArray("▁ a"),
        },
    };

    private static string Write(string content, string name = "tokenizer.json")
    {
        string path = Path.Combine(TestPaths.NewTempDir(), name);
        File.WriteAllText(path, content);
        return path;
    }

    private static void AssertFails(string path, string expectedProblem, string? config = null)
    {
        var e = Assert.ThrowsAny<Exception>(() => HfTokenizer.Load(path, config));
        Assert.Contains(config ?? path, e.Message);
        Assert.Contains(expectedProblem, e.Message);
    }

    [Fact]
    public void The_valid_base_file_loads_and_encodes()
    {
        var tokenizer = HfTokenizer.Load(Write(ValidLlamaLayout().ToJsonString()));
        Assert.Equal([4, 4], tokenizer.Encode("a a", addSpecialTokens: false));
    }

    [Fact]
    public void Missing_file()
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "tokenizer.json");
        var e = Assert.Throws<FileNotFoundException>(() => HfTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        var d = Assert.Throws<FileNotFoundException>(() => HfTokenizer.LoadDirectory(Path.GetDirectoryName(path)!));
        Assert.Contains("no tokenizer.json, tokenizer.json.gz or tokenizer.model found", d.Message);
    }

    [Fact]
    public void Truncated_json() =>
        AssertFails(Write(ValidLlamaLayout().ToJsonString()[..200]), "not valid JSON");

    [Fact]
    public void Not_json_at_all() => AssertFails(Write("<html>404</html>"), "not valid JSON");

    [Fact]
    public void Top_level_not_an_object() => AssertFails(Write("[1, 2]"), "expected a JSON object at the top level");

    [Fact]
    public void Missing_model_vocab()
    {
        var json = ValidLlamaLayout();
        json["model"]!.AsObject().Remove("vocab");
        AssertFails(Write(json.ToJsonString()), "missing model.vocab");
    }

    [Fact]
    public void Missing_model_merges()
    {
        var json = ValidLlamaLayout();
        json["model"]!.AsObject().Remove("merges");
        AssertFails(Write(json.ToJsonString()), "missing model.merges");
    }

    [Fact]
    public void Merge_that_is_not_a_pair()
    {
        var json = ValidLlamaLayout();
        json["model"]!["merges"] = new JsonArray("▁a");
        AssertFails(Write(json.ToJsonString()), "model.merges[0]");
    }

    [Fact]
    public void Merge_of_tokens_outside_the_vocabulary()
    {
        var json = ValidLlamaLayout();
        json["model"]!["merges"] = new JsonArray("▁ b");
        AssertFails(Write(json.ToJsonString()), "model.merges[0] (\"▁\", \"b\") uses or makes a token that is not in model.vocab");
    }

    [Fact]
    public void Vocab_id_that_is_not_an_integer()
    {
        var json = ValidLlamaLayout();
        json["model"]!["vocab"]!["a"] = "three";
        AssertFails(Write(json.ToJsonString()), "model.vocab[\"a\"]");
    }

    [Fact]
    public void Vocab_ids_with_a_gap()
    {
        var json = ValidLlamaLayout();
        json["model"]!["vocab"]!["a"] = 9;
        AssertFails(Write(json.ToJsonString()), "ids must be dense");
    }

    [Fact]
    public void Missing_model() => AssertFails(Write("""{"version": "1.0"}"""), "missing model");

    [Fact]
    public void Unknown_model_type()
    {
        var json = ValidLlamaLayout();
        json["model"]!["type"] = "Unigram";
        AssertFails(Write(json.ToJsonString()), "model.type \"Unigram\" is not supported");
    }

    [Fact]
    public void Unsupported_normalizer()
    {
        var json = ValidLlamaLayout();
        json["normalizer"] = new JsonObject { ["type"] = "Lowercase" };
        AssertFails(Write(json.ToJsonString()), "normalizer");
    }

    [Fact]
    public void Llama_layout_without_byte_fallback()
    {
        var json = ValidLlamaLayout();
        json["model"]!["byte_fallback"] = false;
        AssertFails(Write(json.ToJsonString()), "model.byte_fallback must be true");
    }

    [Fact]
    public void Added_token_id_that_contradicts_the_vocabulary()
    {
        var json = ValidLlamaLayout();
        json["added_tokens"]!.AsArray().Add(new JsonObject { ["id"] = 3, ["content"] = "<image>", ["special"] = true });
        AssertFails(Write(json.ToJsonString()), "added token \"<image>\" has id 3");
    }

    [Fact]
    public void Unsupported_decoder_step()
    {
        var json = ValidLlamaLayout();
        json["decoder"] = new JsonObject { ["type"] = "WordPiece" };
        AssertFails(Write(json.ToJsonString()), "not a supported decoder step");
    }

    [Fact]
    public void Corrupt_gzip()
    {
        using var buffer = new MemoryStream();
        using (var gz = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true))
            gz.Write(Encoding.UTF8.GetBytes(ValidLlamaLayout().ToJsonString()));
        byte[] bytes = buffer.ToArray();
        for (int i = 12; i < bytes.Length - 8; i++) bytes[i] ^= 0x5A; // keep the magic, scramble the deflate stream
        string path = Path.Combine(TestPaths.NewTempDir(), "tokenizer.json.gz");
        File.WriteAllBytes(path, bytes);
        var e = Assert.ThrowsAny<Exception>(() => HfTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.True(e.Message.Contains("corrupt gzip data") || e.Message.Contains("not valid JSON"), e.Message);
    }

    [Fact]
    public void Gz_name_without_gzip_content() =>
        AssertFails(Write(ValidLlamaLayout().ToJsonString(), "tokenizer.json.gz"), "does not start with the gzip magic bytes");

    [Fact]
    public void Config_with_a_bad_added_tokens_decoder()
    {
        string json = Write(ValidLlamaLayout().ToJsonString());
        string config = Path.Combine(Path.GetDirectoryName(json)!, "tokenizer_config.json");
        File.WriteAllText(config, """{"added_tokens_decoder": {"five": {"content": "<x>"}}}""");
        AssertFails(json, "added_tokens_decoder key \"five\"", config);
        File.WriteAllText(config, """{"added_tokens_decoder": {"7": {"content": ""}}}""");
        AssertFails(json, "added_tokens_decoder[\"7\"].content is missing or empty", config);
        File.WriteAllText(config, """{"add_bos_token": true, "bos_token": "<nope>"}""");
        AssertFails(json, "bos_token \"<nope>\"", config);
        File.WriteAllText(config, "{");
        AssertFails(json, "not valid JSON", config);
    }
}
