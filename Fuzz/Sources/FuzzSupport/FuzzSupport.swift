import Foundation
import FuzzDriver

/// The body of the running fuzz target; set once by ``fuzzMain(_:)`` before libFuzzer calls in.
nonisolated(unsafe) private var currentBody: ((UnsafeRawBufferPointer) -> Void)?

/// libFuzzer's per-input entry point: runs the target's body on one input.
///
/// SwiftPM links an executable target with a `main` of its own (the module's top-level code), so libFuzzer's
/// `main` is never used; ``fuzzMain(_:)`` calls `LLVMFuzzerRunDriver` instead, which ends up here.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    currentBody?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Runs libFuzzer with the process's arguments (`-max_total_time=30 corpus/...`), calling `body` on every input;
/// exits with libFuzzer's status. A crash, an ASan report or a failed ``check(_:_:)`` ends the run with the input saved.
public func fuzzMain(_ body: @escaping (UnsafeRawBufferPointer) -> Void) -> Never {
    currentBody = body
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzTestOneInput(data, size) })
}

/// An invariant of the code under test: a violation is a finding, so it crashes like any other bug would.
public func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                  file: StaticString = #fileID, line: UInt = #line) {
    if !condition() {
        FileHandle.standardError.write(Data("invariant violated: \(message())\n".utf8))
        fatalError("invariant violated", file: file, line: line)
    }
}

/// The input as text: valid UTF-8 as it is, anything else with its bad bytes replaced (U+FFFD).
public func text(_ bytes: UnsafeRawBufferPointer) -> String {
    String(decoding: bytes, as: UTF8.self)
}
