import ArgumentParser
import Foundation
import Mynah

/// `mynah hash-password`: reads a password from standard input and prints its bcrypt hash, for a console operator's
/// `password_hash:` in `bots.yaml` (docs/console.md).
struct HashPassword: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-password",
        abstract: "Print the bcrypt hash of the password read from standard input (for console: operators:).")

    @Option(help: "bcrypt cost (4 to 31).")
    var cost: Int = 10

    func run() throws {
        guard (4...31).contains(cost) else { throw ValidationError("--cost: expected 4 to 31, got \(cost)") }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw ValidationError("expected a password on standard input")
        }
        guard line.utf8.count <= 72 else { throw ValidationError("a password may have at most 72 bytes") }
        print(ConsoleSection.hashPassword(line, cost: UInt8(cost)))
    }
}
