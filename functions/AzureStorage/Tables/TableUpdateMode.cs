namespace CreditFunctions.AzureStorage.Tables;

/// <summary>How an update treats properties the new entity does not have.</summary>
public enum TableUpdateMode
{
    /// <summary>Keep them: only the given properties change.</summary>
    Merge,

    /// <summary>Drop them: the entity becomes exactly the given one.</summary>
    Replace,
}
