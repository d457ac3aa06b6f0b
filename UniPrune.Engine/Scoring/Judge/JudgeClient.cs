using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace UniPrune.Engine.Scoring.Judge;

/// <summary>An image sent to a multimodal judge, as a data URL (VLMEvalKit labels every image image/jpeg).</summary>
public sealed record JudgeImage(string Base64, string MediaType = "image/jpeg", string Detail = "low");

/// <summary>One judge call: the user text, optional images after it, sampling temperature and output cap.</summary>
public sealed record JudgeRequest(string Text, IReadOnlyList<JudgeImage>? Images = null, double Temperature = 0, int MaxTokens = 2048);

/// <summary>An LLM judge. Returns the reply text, or <see cref="JudgeSettings.FailureMessage"/> once every retry failed (as VLMEvalKit).</summary>
public interface IJudge
{
    /// <summary>The judge model's name, recorded in every report scored with it.</summary>
    string Model { get; }
    Task<string> CompleteAsync(JudgeRequest request, CancellationToken cancellationToken = default);
}

/// <summary>Thrown when a dataset can only be scored with a judge and none is configured; the text says how to configure one.</summary>
public sealed class JudgeNotConfiguredException(string message) : Exception(message);

/// <summary>
/// Judge configuration from the environment: <c>UNIPRUNE_JUDGE_ENDPOINT</c> (an OpenAI-compatible base URL such as
/// https://api.openai.com/v1 or a full …/chat/completions URL), <c>UNIPRUNE_JUDGE_KEY</c> (optional for local
/// servers), <c>UNIPRUNE_JUDGE_MODEL</c> (else the dataset's VLMEvalKit default), <c>UNIPRUNE_JUDGE_TIMEOUT_S</c>,
/// <c>UNIPRUNE_JUDGE_RETRIES</c> and <c>UNIPRUNE_JUDGE_CACHE</c> (a folder; default ~/.cache/uniprune/judge).
/// </summary>
public sealed record JudgeSettings(
    Uri Endpoint,
    string? Key,
    string? Model,
    TimeSpan Timeout,
    int Retries,
    TimeSpan BackoffBase,
    string? CacheFolder)
{
    public const string EndpointVariable = "UNIPRUNE_JUDGE_ENDPOINT";
    public const string KeyVariable = "UNIPRUNE_JUDGE_KEY";
    public const string ModelVariable = "UNIPRUNE_JUDGE_MODEL";
    public const string TimeoutVariable = "UNIPRUNE_JUDGE_TIMEOUT_S";
    public const string RetriesVariable = "UNIPRUNE_JUDGE_RETRIES";
    public const string CacheVariable = "UNIPRUNE_JUDGE_CACHE";
    /// <summary>VLMEvalKit's fail message; scorers treat it as "no answer".</summary>
    public const string FailureMessage = "Failed to obtain answer via API.";

    /// <summary>Why judge cells skip when <see cref="FromEnvironment"/> gives null.</summary>
    public const string NotConfiguredReason =
        $"no LLM judge configured: set {EndpointVariable} (OpenAI-compatible, e.g. https://api.openai.com/v1), {KeyVariable} and optionally {ModelVariable}";

    /// <summary>The settings, or null when no endpoint is set. Malformed values are errors naming the variable.</summary>
    public static JudgeSettings? FromEnvironment(Func<string, string?>? read = null)
    {
        read ??= Environment.GetEnvironmentVariable;
        string? endpoint = read(EndpointVariable);
        if (string.IsNullOrWhiteSpace(endpoint)) return null;
        if (!Uri.TryCreate(endpoint.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new ArgumentException($"{EndpointVariable}='{endpoint}' is not an absolute http(s) URL such as https://api.openai.com/v1");
        double timeout = ReadNumber(read, TimeoutVariable, 120, 1, 3600);
        int retries = (int)ReadNumber(read, RetriesVariable, 5, 1, 20);
        string? cache = read(CacheVariable);
        cache = string.IsNullOrWhiteSpace(cache)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "uniprune", "judge")
            : cache;
        string? model = read(ModelVariable);
        return new JudgeSettings(uri, read(KeyVariable), string.IsNullOrWhiteSpace(model) ? null : model.Trim(),
            TimeSpan.FromSeconds(timeout), retries, TimeSpan.FromSeconds(1), cache);
    }

    private static double ReadNumber(Func<string, string?> read, string variable, double fallback, double min, double max)
    {
        string? text = read(variable);
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double value) || value < min || value > max)
            throw new ArgumentException($"{variable}='{text}' must be a number in [{min}, {max}]");
        return value;
    }

    /// <summary>The chat-completions URL: the endpoint itself when it already ends in /chat/completions.</summary>
    public Uri ChatCompletionsUri => Endpoint.AbsolutePath.TrimEnd('/').EndsWith("/chat/completions", StringComparison.Ordinal)
        ? Endpoint
        : new Uri(Endpoint.AbsoluteUri.TrimEnd('/') + "/chat/completions");
}

/// <summary>
/// An OpenAI-compatible chat-completions judge: per-request timeout, retries with exponential backoff on transport
/// errors, 429 and 5xx, and an on-disk cache of successful replies keyed by the SHA-256 of the request body, so a
/// re-run never pays for (or varies with) the same judgement twice.
/// </summary>
public sealed class OpenAiJudgeClient : IJudge, IDisposable
{
    private readonly JudgeSettings _settings;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    public string Model { get; }
    /// <summary>HTTP requests actually sent (cache hits send none).</summary>
    public int RequestsSent => _requestsSent;
    public int CacheHits => _cacheHits;
    private int _requestsSent, _cacheHits;

    /// <param name="defaultModel">The dataset's VLMEvalKit judge, used when the settings name none.</param>
    public OpenAiJudgeClient(JudgeSettings settings, string defaultModel, HttpClient? http = null)
    {
        _settings = settings;
        Model = settings.Model ?? defaultModel;
        _ownsHttp = http is null;
        _http = http ?? new HttpClient { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
    }

    public static JudgeSettings? Configured => JudgeSettings.FromEnvironment();

    /// <summary>The JSON body VLMEvalKit's OpenAIWrapper sends: one user message, n=1, temperature, max_tokens.</summary>
    public string RequestBody(JudgeRequest request)
    {
        JsonNode content;
        if (request.Images is { Count: > 0 } images)
        {
            var parts = new JsonArray { new JsonObject { ["type"] = "text", ["text"] = request.Text } };
            foreach (var image in images)
                parts.Add(new JsonObject
                {
                    ["type"] = "image_url",
                    ["image_url"] = new JsonObject { ["url"] = $"data:{image.MediaType};base64,{image.Base64}", ["detail"] = image.Detail },
                });
            content = parts;
        }
        else content = new JsonArray { new JsonObject { ["type"] = "text", ["text"] = request.Text } };
        var body = new JsonObject
        {
            ["model"] = Model,
            ["messages"] = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = content } },
            ["n"] = 1,
            ["temperature"] = request.Temperature,
            ["max_tokens"] = request.MaxTokens,
        };
        return body.ToJsonString();
    }

    public static string CacheKey(string body) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body)));

    public async Task<string> CompleteAsync(JudgeRequest request, CancellationToken cancellationToken = default)
    {
        string body = RequestBody(request);
        string key = CacheKey(body);
        string? cachePath = _settings.CacheFolder is null ? null : Path.Combine(_settings.CacheFolder, key[..2], key + ".json");
        if (cachePath is not null && File.Exists(cachePath))
        {
            try
            {
                var cached = JsonNode.Parse(await File.ReadAllTextAsync(cachePath, cancellationToken));
                if (cached?["reply"]?.GetValue<string>() is { } reply) { Interlocked.Increment(ref _cacheHits); return reply; }
            }
            catch (JsonException) { /* a torn cache file is ignored and rewritten */ }
        }

        for (int attempt = 0; attempt < _settings.Retries; attempt++)
        {
            if (attempt > 0)
                await Task.Delay(TimeSpan.FromMilliseconds(_settings.BackoffBase.TotalMilliseconds * Math.Pow(2, attempt - 1)), cancellationToken);
            string? reply = await TryOnceAsync(body, cancellationToken);
            if (reply is null) continue;
            if (cachePath is not null) await WriteCacheAsync(cachePath, key, body, reply, cancellationToken);
            return reply;
        }
        return JudgeSettings.FailureMessage;
    }

    /// <summary>One HTTP call: the stripped reply, or null for a retryable failure. Non-retryable HTTP errors throw with the server's text.</summary>
    private async Task<string?> TryOnceAsync(string body, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_settings.Timeout);
        using var message = new HttpRequestMessage(HttpMethod.Post, _settings.ChatCompletionsUri)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (!string.IsNullOrEmpty(_settings.Key)) message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _settings.Key);
        Interlocked.Increment(ref _requestsSent);
        HttpResponseMessage response;
        try { response = await _http.SendAsync(message, timeout.Token); }
        catch (HttpRequestException) { return null; }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { return null; } // timed out
        using (response)
        {
            string text;
            try { text = await response.Content.ReadAsStringAsync(timeout.Token); }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { return null; }
            int status = (int)response.StatusCode;
            if (status == 429 || status >= 500) return null;
            if (status is 401 or 403 or 404 or 400)
                throw new HttpRequestException($"judge at {_settings.ChatCompletionsUri} answered {status} {response.StatusCode}: {Abbreviate(text)}", null, response.StatusCode);
            if (!response.IsSuccessStatusCode) return null;
            try
            {
                string? reply = JsonNode.Parse(text)?["choices"]?[0]?["message"]?["content"]?.GetValue<string>();
                // VLMEvalKit strips the reply and treats an empty one as a failure worth retrying.
                reply = reply?.Trim();
                return string.IsNullOrEmpty(reply) ? null : reply;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException) { return null; }
        }
    }

    private static async Task WriteCacheAsync(string path, string key, string body, string reply, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var record = new JsonObject { ["key"] = key, ["request"] = JsonNode.Parse(body), ["reply"] = reply };
        string temp = path + "." + Environment.ProcessId + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        await File.WriteAllTextAsync(temp, record.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken);
        File.Move(temp, path, overwrite: true);
    }

    private static string Abbreviate(string text) => text.Length <= 300 ? text : text[..297] + "...";

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }
}
