using Azure.Data.Tables;

namespace CreditFunctions.CsvJobs;

/// <summary>Registers CSV jobs: the job table (partition = team), the processor and the service; the functions are
/// <see cref="CsvJobFunctions"/> and <see cref="CsvJobApiFunctions"/>.</summary>
public static class CsvJobSetup
{
    /// <summary>The setting naming the job table; <c>csvjobs</c> by default.</summary>
    public const string TableSetting = "CREDITFUNCTIONS_CSVJOBS_TABLE";

    /// <summary>Adds the CSV jobs' services.</summary>
    public static IServiceCollection AddCsvJobs(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var tableName = configuration[TableSetting] is { Length: > 0 } name ? name : "csvjobs";
        services.AddSingleton(sp => new CsvJobStore(sp.GetRequiredService<TableServiceClient>().GetTableClient(tableName)));
        services.AddSingleton<CsvJobProcessor>();
        services.AddSingleton<CsvJobService>();
        return services;
    }
}
