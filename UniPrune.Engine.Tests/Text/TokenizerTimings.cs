using System.Diagnostics;
using UniPrune.Engine.Text;

namespace UniPrune.Engine.Tests.Text;

/// <summary>
/// Build time and encode speed of the real tokenizers (a measurement, not a timed assertion). Runs only with UNIPRUNE_BENCH=1:
/// <c>UNIPRUNE_BENCH=1 dotnet test UniPrune.Engine.Tests --no-build --filter FullyQualifiedName~TokenizerTimings --logger "console;verbosity=detailed"</c>
/// </summary>
public class TokenizerTimings(Xunit.Abstractions.ITestOutputHelper output)
{
    [SkippableFact]
    public void Build_and_encode_speed()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("UNIPRUNE_BENCH") == "1", "a measurement; set UNIPRUNE_BENCH=1 to run it");
        // Fresh builds (not the shared fixtures) so the build time is measured.
        var builds = new (string Name, Func<HfTokenizer> Build)[]
        {
            ("llama2", () => HfTokenizer.Load(TokenizerFixtures.Files["llama2"].Json)),
            ("qwen25vl", () => HfTokenizer.Load(TokenizerFixtures.Files["qwen25vl"].Json, TokenizerFixtures.Files["qwen25vl"].Config)),
        };
        string text = string.Concat(TokenizerFixtures.Reference.Variants["llama2"].Select(c => c.Text + "\n"));
        string corpus = string.Concat(Enumerable.Repeat(text, 200));
        foreach (var (name, build) in builds)
        {
            var times = new List<double>();
            HfTokenizer tokenizer = null!;
            for (int i = 0; i < 3; i++) { tokenizer = build(); times.Add(tokenizer.BuildTime.TotalSeconds); }
            var (json, config) = TokenizerFixtures.Files[name];
            var parse = Stopwatch.StartNew();
            var definition = TokenizerDefinition.Load(json, config);
            output.WriteLine($"{name}: build {times.Min():F2} s (min of 3; first {times[0]:F2} s), of which reading + parsing the files {parse.Elapsed.TotalSeconds:F2} s");
            Assert.Equal(tokenizer.ModelVocabularySize, definition.Vocabulary.Count);

            tokenizer.Encode(corpus); // warm caches and JIT
            var speeds = new List<double>();
            int count = 0;
            for (int i = 0; i < 5; i++)
            {
                var sw = Stopwatch.StartNew();
                count = tokenizer.Encode(corpus).Length;
                speeds.Add(corpus.Length / sw.Elapsed.TotalSeconds);
            }
            output.WriteLine($"{name}: encode {speeds.Max() / 1e6:F2} M chars/s best, {speeds.Order().ElementAt(2) / 1e6:F2} median " +
                             $"({corpus.Length} chars → {count} tokens)");
            // Distinct prompts, so BPE word caches do not hide the cost of unseen text.
            var fresh = Enumerable.Range(0, 2000).Select(i => $"Question {i}: what colour is object number {i * 7919 % 10007}? ").ToList();
            var swFresh = Stopwatch.StartNew();
            long chars = 0;
            foreach (var f in fresh) { tokenizer.Encode(f); chars += f.Length; }
            output.WriteLine($"{name}: encode of 2000 short distinct prompts {chars / swFresh.Elapsed.TotalSeconds / 1e6:F2} M chars/s, " +
                             $"{swFresh.Elapsed.TotalMilliseconds / fresh.Count * 1000:F0} µs per prompt");
            Assert.True(count > corpus.Length / 8, "encoding produced implausibly few tokens");
        }
    }
}
