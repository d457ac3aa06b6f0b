using UniPrune.Engine.Reporting;

namespace UniPrune.Bench.Tests.Harness;

public sealed class CanonicalJsonTests
{
    [Fact]
    public void Keys_are_sorted_floats_have_six_decimals_integers_stay_integers_and_lines_end_in_LF()
    {
        var tree = new Dictionary<string, object?>
        {
            ["zeta"] = 1.0 / 3, ["alpha"] = 42, ["mid"] = new Dictionary<string, object?> { ["b"] = -0.0000001, ["a"] = "naïve 中文" },
            ["list"] = new object?[] { 1, 2.5, null, true },
        };
        var text = CanonicalJson.Serialize(tree);
        Assert.Equal("{\n  \"alpha\": 42,\n  \"list\": [1, 2.500000, null, true],\n  \"mid\": {\n    \"a\": \"naïve 中文\",\n    \"b\": 0.000000\n  },\n  \"zeta\": 0.333333\n}\n", text);
        Assert.DoesNotContain("\r", text);
    }

    [Fact]
    public void Parsing_and_writing_again_gives_the_same_bytes()
    {
        var text = CanonicalJson.Serialize(new Dictionary<string, object?> { ["x"] = 3.0, ["n"] = 3, ["s"] = "a\"b", ["o"] = new Dictionary<string, object?>() });
        Assert.Equal(text, CanonicalJson.Serialize(CanonicalJson.Parse(text, "test")));
        Assert.Contains("\"x\": 3.000000", text);
        Assert.Contains("\"n\": 3", text);
    }

    [Fact]
    public void Non_finite_numbers_are_refused_with_a_reason() =>
        Assert.Contains("finite", Assert.Throws<ArgumentException>(() => CanonicalJson.Serialize(new Dictionary<string, object?> { ["x"] = double.NaN })).Message);

    [Fact]
    public void Flatten_gives_dotted_paths()
    {
        var flat = CanonicalJson.Flatten(CanonicalJson.Parse("{\"a\":{\"b\":1,\"c\":[2,3]},\"d\":{}}", "t"));
        Assert.Equal(["a.b", "a.c[0]", "a.c[1]", "d"], flat.Keys.ToArray());
    }
}
