namespace PaymentsKit.Streaming;

/// <summary>Where a payment stream stands (seed 002 <c>stream_status</c>).</summary>
public enum StreamState
{
    /// <summary>Streaming funds to the recipient.</summary>
    Active,

    /// <summary>Temporarily stopped; nothing accrues until it is resumed.</summary>
    Paused,

    /// <summary>Stopped before completion; the recipient kept what had accrued and the payer got the rest back.</summary>
    Cancelled,

    /// <summary>Everything that could stream has streamed (the total, or everything up to the end time).</summary>
    Completed,
}

/// <summary>The stream lifecycle as an explicit transition table, exactly as seed 002 states it.</summary>
public static class StreamLifecycle
{
    /// <summary>
    /// active → paused | cancelled | completed; paused → active | cancelled; cancelled and completed are terminal.
    /// </summary>
    public static StateMachine<StreamState> Machine { get; } = new(
        "stream",
        [
            new(StreamState.Active, StreamState.Paused),
            new(StreamState.Active, StreamState.Cancelled),
            new(StreamState.Active, StreamState.Completed),
            new(StreamState.Paused, StreamState.Active),
            new(StreamState.Paused, StreamState.Cancelled),
        ]);
}
