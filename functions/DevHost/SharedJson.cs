using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace DevHost;

/// <summary>
/// One JSON configuration for HTTP results (MVC and minimal results), queue POCO binding and Durable payloads:
/// <see cref="IOptions{JsonSerializerOptions}"/>, starting from System.Text.Json's web defaults (camelCase,
/// case-insensitive reads, numbers from strings). An app changes it the standard isolated-worker way,
/// <c>services.Configure&lt;JsonSerializerOptions&gt;(...)</c>; <c>WorkerOptions.Serializer</c> is not read.
/// </summary>
internal static class SharedJson
{
    public static void AddDefaults(IServiceCollection services) =>
        services.Configure<JsonSerializerOptions>(options =>
        {
            options.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
            options.PropertyNameCaseInsensitive = true;
            options.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowReadingFromString;
        });

    public static void AddHttpCopies(IServiceCollection services)
    {
        services.AddOptions<Microsoft.AspNetCore.Mvc.JsonOptions>()
            .Configure<IOptions<JsonSerializerOptions>>((mvc, shared) => CopyInto(shared.Value, mvc.JsonSerializerOptions));
        services.AddOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>()
            .Configure<IOptions<JsonSerializerOptions>>((http, shared) => CopyInto(shared.Value, http.SerializerOptions));
    }

    private static void CopyInto(JsonSerializerOptions from, JsonSerializerOptions to)
    {
        to.PropertyNamingPolicy = from.PropertyNamingPolicy;
        to.DictionaryKeyPolicy = from.DictionaryKeyPolicy;
        to.PropertyNameCaseInsensitive = from.PropertyNameCaseInsensitive;
        to.DefaultIgnoreCondition = from.DefaultIgnoreCondition;
        to.NumberHandling = from.NumberHandling;
        to.WriteIndented = from.WriteIndented;
        to.AllowTrailingCommas = from.AllowTrailingCommas;
        to.ReadCommentHandling = from.ReadCommentHandling;
        to.MaxDepth = from.MaxDepth;
        to.Encoder = from.Encoder;
        to.ReferenceHandler = from.ReferenceHandler;
        to.IgnoreReadOnlyProperties = from.IgnoreReadOnlyProperties;
        to.IgnoreReadOnlyFields = from.IgnoreReadOnlyFields;
        to.IncludeFields = from.IncludeFields;
        to.UnknownTypeHandling = from.UnknownTypeHandling;
        to.UnmappedMemberHandling = from.UnmappedMemberHandling;
        to.PreferredObjectCreationHandling = from.PreferredObjectCreationHandling;
        to.RespectNullableAnnotations = from.RespectNullableAnnotations;
        to.RespectRequiredConstructorParameters = from.RespectRequiredConstructorParameters;
        if (from.TypeInfoResolver is not null)
        {
            to.TypeInfoResolver = from.TypeInfoResolver;
        }
        foreach (var converter in from.Converters)
        {
            to.Converters.Add(converter);
        }
    }
}
