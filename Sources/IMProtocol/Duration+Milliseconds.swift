extension Duration {
    /// The duration in whole milliseconds, truncated toward zero: how the hub, the bridge and the rate limits keep
    /// times (`Int64` milliseconds since the epoch).
    public var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    /// The duration in whole nanoseconds, truncated toward zero, for APIs that take nanoseconds (Dispatch, NIO).
    public var wholeNanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
