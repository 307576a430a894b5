using System.Diagnostics;
using System.Text;
using CreditFunctions.Durable.TestWorker;

namespace CreditFunctions.Durable.Tests;

/// <summary>
/// A worker in a process of its own (the Durable.TestWorker program, copied next to the tests): ready once it prints
/// its worker id, killed with SIGKILL by <see cref="Kill"/>, and otherwise stopped by closing its standard input.
/// </summary>
internal sealed class WorkerProcess : IAsyncDisposable
{
    private const int ErrorLogMaxChars = 64_000;

    private readonly Process _process;
    private readonly StringBuilder _errors;

    private WorkerProcess(Process process, StringBuilder errors, string workerId)
    {
        _process = process;
        _errors = errors;
        WorkerId = workerId;
    }

    /// <summary>The worker's identity in instance leases.</summary>
    public string WorkerId { get; }

    public int Pid => _process.Id;

    /// <summary>What the worker wrote to standard error (its warnings), for failure messages.</summary>
    public string Errors
    {
        get
        {
            lock (_errors)
            {
                return _errors.ToString();
            }
        }
    }

    public static async Task<WorkerProcess> StartAsync(string connectionString, DurableTaskHubOptions options, string effectsTable, CancellationToken cancellationToken)
    {
        // DOTNET_HOST_PATH is the dotnet executable running the build or the tests; "dotnet" on the PATH otherwise.
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "CreditFunctions.Durable.TestWorker.dll"));
        foreach (var arg in TestWorkerContract.Arguments(options, effectsTable))
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment[TestWorkerContract.StorageVariable] = connectionString;

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the test worker.");
        var errors = new StringBuilder();
        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.StartsWith(TestWorkerContract.ReadyPrefix + " ", StringComparison.Ordinal) == true)
            {
                ready.TrySetResult(e.Data[(TestWorkerContract.ReadyPrefix.Length + 1)..]);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (errors)
            {
                if (e.Data is not null && errors.Length < ErrorLogMaxChars)
                {
                    errors.AppendLine(e.Data);
                }
            }
        };
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("The test worker exited before it was ready."));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var workerId = await ready.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
            return new WorkerProcess(process, errors, workerId);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
            process.Dispose();
            lock (errors)
            {
                throw new InvalidOperationException($"The test worker did not start: {ex.Message}{Environment.NewLine}{errors}", ex);
            }
        }
    }

    /// <summary>Ends the process at once: on Linux and macOS this is SIGKILL, so no handler finishes, no message is
    /// deleted and no lease is released.</summary>
    public void Kill() => _process.Kill();

    public bool HasExited => _process.HasExited;

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                _process.StandardInput.Close();
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (Exception ex) when (ex is IOException or TimeoutException)
            {
                _process.Kill();
            }
        }
        _process.Dispose();
    }
}
