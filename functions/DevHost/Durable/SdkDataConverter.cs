namespace DevHost.Durable;

/// <summary>The Durable Task Framework's converter over the SDK's, so <c>TaskHubClient</c> payloads use the shared
/// JSON settings instead of Newtonsoft.</summary>
internal sealed class SdkDataConverter(Microsoft.DurableTask.DataConverter inner) : DurableTask.Core.Serializing.DataConverter
{
    public override string Serialize(object value) => inner.Serialize(value) ?? "null";

    public override string Serialize(object value, bool formatted) => Serialize(value);

    public override object Deserialize(string data, Type objectType) => inner.Deserialize(data, objectType)!;
}
