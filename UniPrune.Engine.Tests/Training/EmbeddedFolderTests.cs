using UniPrune.Engine.Imaging;
using UniPrune.Engine.Models.Abstractions;
using UniPrune.Engine.Models.InternVL3;
using UniPrune.Engine.Models.Qwen25VL;
using UniPrune.Engine.Models.Common;
using UniPrune.Engine.Training;
using static TorchSharp.torch;

namespace UniPrune.Engine.Tests.Training;

/// <summary>
/// The embedded Qwen and InternVL folders read through the real config, processor and tokenizer code, and give the token
/// layouts the issue asks for: several attention windows and 16–64 merged tokens for 112–224-pixel images (Qwen), 16
/// tokens per 112-pixel tile with dynamic tiles + thumbnail (InternVL); every special token is one added token.
/// </summary>
public class EmbeddedFolderTests
{
    private static readonly string[] Corpus =
    [
        "You are a helpful assistant.", "Is there a red circle in the image? Please answer yes or no.", "Yes", "No",
        "Answer with the option's letter from the given choices directly.", "What is written in the image?",
        InternVL3Prompt.SystemMessage,
    ];

    private static RgbImage Blank(int width, int height) => new(width, height, new byte[width * height * 3]);

    [Fact]
    public void QwenFolderHasWindowsMergedTokensAndSingleIdSpecialTokens()
    {
        string folder = TestPaths.NewTempDir();
        try
        {
            EmbeddedQwen.WriteFolder(folder, Corpus);
            var config = Qwen25VLConfig.Load(Path.Combine(folder, "config.json"));
            Assert.Empty(config.CompletedVisionKeys);
            Assert.Contains(config.Vision.Depth - 1, config.Vision.FullAttentionBlockIndexes);
            var processor = QwenImageProcessor.FromPreprocessorConfig(Path.Combine(folder, "preprocessor_config.json"));
            foreach (var (side, tokens, windows) in new[] { (112, 16, 4), (168, 36, 9), (224, 64, 16) })
            {
                using var input = processor.Process(Blank(side, side));
                Assert.Equal(tokens, input.Grid.MergedTokens(2));
                var plan = Qwen25VisionTower.PlanWindows([input.Grid], config.Vision);
                Assert.Equal(windows, plan.CuWindowSeqlens.Length - 1);
            }

            var tokenizer = HfTextTokenizer.FromTokenizerJson(Path.Combine(folder, "tokenizer.json"));
            Assert.Equal([config.Tokens.ImageToken], tokenizer.Encode(Qwen25VLPrompt.ImagePad));
            Assert.Equal([config.Tokens.StopTokens[0]], tokenizer.Encode(Qwen25VLPrompt.ImEnd));
            Assert.Equal([config.Tokens.VisionStart], tokenizer.Encode(Qwen25VLPrompt.VisionStart));
            Assert.True(config.Tokens.VideoToken < config.Text.VocabSize);
        }
        finally { Directory.Delete(folder, true); }
    }

    [Fact]
    public void InternVLFolderHasSixteenTokensPerTileAndAThumbnail()
    {
        string folder = TestPaths.NewTempDir();
        try
        {
            EmbeddedInternVL.WriteFolder(folder, Corpus);
            var config = InternVL3Config.Load(folder);
            Assert.Equal(16, config.ImageTokensPerTile);
            using var model = new InternVL3Model(config, new ParameterFactory(ScalarType.Float32, META));
            model.UseTokenizer(HfTextTokenizer.FromTokenizerJson(Path.Combine(folder, "tokenizer.json")));
            Assert.True(model.Tokens!.ImageContext < config.Language.VocabSize);
            foreach (var (width, height, tiles) in new[] { (112, 112, 1), (224, 112, 3), (224, 224, 5) })
            {
                using var input = model.ImageProcessor.Process(Blank(width, height));
                Assert.Equal(tiles, input.TileCount);
                Assert.Equal(tiles > 1, input.HasThumbnail);
            }
        }
        finally { Directory.Delete(folder, true); }
    }
}
