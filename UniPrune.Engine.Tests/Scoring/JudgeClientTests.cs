using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using UniPrune.Engine.Scoring.Judge;

namespace UniPrune.Engine.Tests.Scoring;

/// <summary>A loopback OpenAI-style server on 127.0.0.1 that answers a fixed script of responses, then stops.</summary>
internal sealed class LoopbackJudgeServer : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _serving;
    private readonly CancellationTokenSource _stop = new(TimeSpan.FromSeconds(20));
    public List<(string Body, string? Authorization, string Path)> Received { get; } = [];
    public string BaseUrl { get; }

    /// <param name="script">Per request: status code, reply content, and a delay before answering.</param>
    public LoopbackJudgeServer(params (int Status, string Content, int DelayMs)[] script)
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        BaseUrl = $"http://127.0.0.1:{port}/v1";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _serving = Task.Run(() => ServeAsync(script));
    }

    private async Task ServeAsync((int Status, string Content, int DelayMs)[] script)
    {
        foreach (var (status, content, delay) in script) // bounded: exactly the scripted requests
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync().WaitAsync(_stop.Token); }
            catch (Exception) { return; }
            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            Received.Add((await reader.ReadToEndAsync(), context.Request.Headers["Authorization"], context.Request.Url!.AbsolutePath));
            try
            {
                if (delay > 0) await Task.Delay(delay, _stop.Token);
                var body = status == 200
                    ? new JsonObject { ["choices"] = new JsonArray { new JsonObject { ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content } } } }.ToJsonString()
                    : content;
                byte[] bytes = Encoding.UTF8.GetBytes(body);
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(bytes, _stop.Token);
                context.Response.Close();
            }
            catch (Exception) { /* the client gave up (timeout test) */ }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        _listener.Close();
        try { await _serving; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}

public class JudgeClientTests
{
    private static JudgeSettings Settings(string baseUrl, string? cache, int retries = 3, int timeoutMs = 5000) =>
        new(new Uri(baseUrl), "sk-test", "judge-model", TimeSpan.FromMilliseconds(timeoutMs), retries, TimeSpan.FromMilliseconds(10), cache);

    [Fact]
    public async Task Retries_a_server_error_then_caches_the_reply_on_disk()
    {
        string cache = TestPaths.NewTempDir();
        await using var server = new LoopbackJudgeServer((500, "{\"error\":\"overloaded\"}", 0), (200, "  B  ", 0));
        using var client = new OpenAiJudgeClient(Settings(server.BaseUrl, cache), defaultModel: "gpt-4o-mini");
        var request = new JudgeRequest("Which option?", Temperature: 0.5, MaxTokens: 128);

        Assert.Equal("B", await client.CompleteAsync(request));
        Assert.Equal(2, client.RequestsSent);
        Assert.Equal(2, server.Received.Count);
        Assert.Equal("/v1/chat/completions", server.Received[1].Path);
        Assert.Equal("Bearer sk-test", server.Received[1].Authorization);
        var body = JsonNode.Parse(server.Received[1].Body)!;
        Assert.Equal("judge-model", body["model"]!.GetValue<string>());
        Assert.Equal(0.5, body["temperature"]!.GetValue<double>());
        Assert.Equal(128, body["max_tokens"]!.GetValue<int>());
        Assert.Equal(1, body["n"]!.GetValue<int>());
        Assert.Equal("Which option?", body["messages"]![0]!["content"]![0]!["text"]!.GetValue<string>());

        // Same request again: served from the cache, no HTTP call (the server would not answer a third one).
        Assert.Equal("B", await client.CompleteAsync(request));
        Assert.Equal(2, client.RequestsSent);
        Assert.Equal(1, client.CacheHits);
        // A new client (a later run) reads the same on-disk cache.
        using var later = new OpenAiJudgeClient(Settings(server.BaseUrl, cache), defaultModel: "gpt-4o-mini");
        Assert.Equal("B", await later.CompleteAsync(request));
        Assert.Equal(0, later.RequestsSent);
        // A different temperature is a different judgement.
        Assert.NotEqual(OpenAiJudgeClient.CacheKey(client.RequestBody(request)), OpenAiJudgeClient.CacheKey(client.RequestBody(request with { Temperature = 1 })));
    }

    [Fact]
    public async Task Timeouts_exhaust_the_retries_and_return_the_failure_message()
    {
        await using var server = new LoopbackJudgeServer((200, "late", 8000), (200, "late", 8000));
        using var client = new OpenAiJudgeClient(Settings(server.BaseUrl, cache: null, retries: 2, timeoutMs: 150), defaultModel: "m");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(JudgeSettings.FailureMessage, await client.CompleteAsync(new JudgeRequest("q")));
        // Two 150 ms timeouts, not the server's 8 s answer (the bound is loose for a loaded 2-core machine).
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(6), $"took {watch.Elapsed}");
        Assert.Equal(2, client.RequestsSent);
    }

    [Fact]
    public async Task An_authentication_error_is_not_retried_and_names_the_server()
    {
        await using var server = new LoopbackJudgeServer((401, "{\"error\":\"bad key\"}", 0));
        using var client = new OpenAiJudgeClient(Settings(server.BaseUrl, cache: null), defaultModel: "m");
        var e = await Assert.ThrowsAsync<HttpRequestException>(() => client.CompleteAsync(new JudgeRequest("q")));
        Assert.Contains("401", e.Message);
        Assert.Contains("bad key", e.Message);
        Assert.Equal(1, client.RequestsSent);
    }

    [Fact]
    public async Task Images_are_sent_as_low_detail_jpeg_data_urls_after_the_text()
    {
        await using var server = new LoopbackJudgeServer((200, "score of component 1: 5/5, total score: 5/10.", 0));
        using var client = new OpenAiJudgeClient(Settings(server.BaseUrl, cache: null) with { Model = null }, defaultModel: "gpt-4o");
        await client.CompleteAsync(new JudgeRequest("grade", [new JudgeImage("QUJD")]));
        var content = JsonNode.Parse(server.Received[0].Body)!["messages"]![0]!["content"]!.AsArray();
        Assert.Equal("text", content[0]!["type"]!.GetValue<string>());
        Assert.Equal("data:image/jpeg;base64,QUJD", content[1]!["image_url"]!["url"]!.GetValue<string>());
        Assert.Equal("low", content[1]!["image_url"]!["detail"]!.GetValue<string>());
        Assert.Equal("gpt-4o", JsonNode.Parse(server.Received[0].Body)!["model"]!.GetValue<string>());
    }

    [Fact]
    public void Settings_come_from_the_environment_and_malformed_values_name_the_variable()
    {
        Assert.Null(JudgeSettings.FromEnvironment(_ => null));
        var env = new Dictionary<string, string?>
        {
            [JudgeSettings.EndpointVariable] = "http://127.0.0.1:8000/v1/",
            [JudgeSettings.KeyVariable] = "k",
            [JudgeSettings.TimeoutVariable] = "30",
            [JudgeSettings.CacheVariable] = "/tmp/judge-cache",
        };
        var settings = JudgeSettings.FromEnvironment(v => env.GetValueOrDefault(v))!;
        Assert.Equal("http://127.0.0.1:8000/v1/chat/completions", settings.ChatCompletionsUri.AbsoluteUri);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.Timeout);
        Assert.Null(settings.Model);
        Assert.Equal(5, settings.Retries);
        env[JudgeSettings.EndpointVariable] = "http://host/v1/chat/completions";
        Assert.Equal("http://host/v1/chat/completions", JudgeSettings.FromEnvironment(v => env.GetValueOrDefault(v))!.ChatCompletionsUri.AbsoluteUri);
        env[JudgeSettings.TimeoutVariable] = "soon";
        Assert.Contains(JudgeSettings.TimeoutVariable, Assert.Throws<ArgumentException>(() => JudgeSettings.FromEnvironment(v => env.GetValueOrDefault(v))).Message);
        env[JudgeSettings.EndpointVariable] = "ftp://x";
        Assert.Contains(JudgeSettings.EndpointVariable, Assert.Throws<ArgumentException>(() => JudgeSettings.FromEnvironment(v => env.GetValueOrDefault(v))).Message);
    }

    [Fact]
    public void Yes_no_and_mcq_judge_prompts_match_upstream()
    {
        Assert.EndsWith("Example 3: \nQuestion: Is it red??\nAnswer: maybe\nYour output: ", JudgePrompts.YesNoMatch("Is it red?", "maybe"));
        Assert.StartsWith("You are an AI assistant who will help me to match an answer with two options of a question. The options are only Yes / No. ", JudgePrompts.YesNoMatch("q", "a"));
        string cn = JudgePrompts.McqMatch("图中是什么?", [new('A', "猫"), new('B', "狗")], "一只猫");
        Assert.StartsWith("你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。", cn);
        Assert.EndsWith("例 3: \n问题: 图中是什么??\n选项: There are several options: \nA. 猫\nB. 狗\n\n答案: 一只猫\n输出: ", cn);
    }
}
