#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits a byte stream into `\n`-terminated lines in time linear in its length: each byte is searched once and
/// copied at most once, however long a line is or however many lines one read returns. A line longer than
/// `maxLineBytes` is not kept: it is reported once as ``Line/overlong(prefix:)`` and skipped to its end.
struct LineSplitter {
    /// One line of the stream.
    enum Line: Sendable, Hashable {
        /// A line without its `\n` (and without a `\r` before it), decoded as UTF-8.
        case text(String)
        /// A line over the limit: its first 200 bytes.
        case overlong(prefix: String)
    }

    /// Longest line kept.
    let maxLineBytes: Int
    /// The start of a line whose end has not arrived yet.
    private var pending: [UInt8] = []
    /// Whether the bytes until the next `\n` belong to an overlong line already reported.
    private var skipping = false
    /// How many bytes were copied into `pending` so far: at most the stream's length (what the tests check).
    private(set) var bytesCopied = 0

    /// A splitter keeping lines of up to `maxLineBytes` bytes.
    init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    /// Feeds the next bytes of the stream; calls `emit` with every line they complete.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (Line) throws -> Void) rethrows {
        var start = bytes.startIndex
        while start < bytes.endIndex {
            guard let newline = Self.newline(in: bytes, from: start) else {
                try keep(UnsafeRawBufferPointer(rebasing: bytes[start...]), emit: emit)
                return
            }
            let part = UnsafeRawBufferPointer(rebasing: bytes[start..<newline])
            start = newline + 1
            if skipping {
                skipping = false
                continue
            }
            if pending.isEmpty {
                if part.count > maxLineBytes {
                    try emit(.overlong(prefix: Self.decode(UnsafeRawBufferPointer(rebasing: part.prefix(200)))))
                } else {
                    try emit(.text(Self.decode(part)))
                }
                continue
            }
            if pending.count + part.count > maxLineBytes {
                try emit(.overlong(prefix: Self.decode(pending.prefix(200))))
                pending.removeAll(keepingCapacity: true)
                continue
            }
            pending.append(contentsOf: part)
            bytesCopied += part.count
            try emit(.text(Self.decode(pending)))
            pending.removeAll(keepingCapacity: true)
        }
    }

    /// The index of the first `\n` at or after `start` (memchr: fast in every build).
    private static func newline(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let base = bytes.baseAddress, start < bytes.count,
              let found = memchr(base + start, Int32(UInt8(ascii: "\n")), bytes.count - start)
        else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }

    /// Feeds bytes held in an array.
    mutating func feed(_ bytes: [UInt8], _ emit: (Line) throws -> Void) rethrows {
        try bytes.withUnsafeBytes { try feed($0, emit) }
    }

    /// The stream ended: emits a last line that had no `\n`.
    mutating func finish(_ emit: (Line) throws -> Void) rethrows {
        defer {
            pending = []
            skipping = false
        }
        if !skipping && !pending.isEmpty { try emit(.text(Self.decode(pending))) }
    }

    /// Keeps the start of a line; once it is over the limit, reports it and skips the rest of it.
    private mutating func keep(_ bytes: UnsafeRawBufferPointer, emit: (Line) throws -> Void) rethrows {
        if skipping { return }
        if pending.count + bytes.count > maxLineBytes {
            var head = pending.prefix(200)
            head.append(contentsOf: bytes.prefix(200 - head.count))
            try emit(.overlong(prefix: Self.decode(head)))
            pending.removeAll()
            skipping = true
            return
        }
        pending.append(contentsOf: bytes)
        bytesCopied += bytes.count
    }

    private static func decode(_ bytes: some Collection<UInt8>) -> String {
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        return text
    }
}
