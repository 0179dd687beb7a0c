import ArgumentParser
import Foundation
import Mynah

/// `mynah callbacks list | replay`: the dead letters of message routing and push receipts (docs/callbacks.md).
struct Callbacks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or replay message-routing batches and push receipt reports kept as dead letters.",
        subcommands: [List.self, Replay.self])

    /// Options of both subcommands.
    struct Location: ParsableArguments {
        @OptionGroup var options: ConfigOption

        @Option(help: "The daemon's data directory instead of the configured daemon's (its directory, or its cluster's database with storage.postgres).")
        var dataDir: String?

        /// The dead letters of `--data-dir`, or else of the configured daemon (its cluster's database with
        /// `storage.postgres`).
        func list() async throws -> [DeadLetters.Summary] {
            if let dataDir { return try await DeadLetters.list(dataDirectory: dataDir) }
            return try await DeadLetters.list(configuration: ConfigurationLoader.load(path: options.config))
        }

        /// Marks dead letters for replay where ``list()`` reads them.
        func replay(ids: [Int64]) async throws -> Int {
            if let dataDir { return try await DeadLetters.replay(dataDirectory: dataDir, ids: ids) }
            return try await DeadLetters.replay(configuration: ConfigurationLoader.load(path: options.config), ids: ids)
        }
    }

    /// `mynah callbacks list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the dead letters, oldest first.")

        @OptionGroup var location: Location

        func run() async throws {
            do {
                let letters = try await location.list()
                if letters.isEmpty { print("no dead letters") }
                for letter in letters { print(letter) }
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    /// `mynah callbacks replay`.
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters again (the running daemon, or the next one started, sends them).")

        @OptionGroup var location: Location

        @Option(name: .customLong("id"), help: "A dead letter's id (repeatable).")
        var ids: [Int64] = []

        @Flag(help: "Every dead letter.")
        var all = false

        func run() async throws {
            guard all || !ids.isEmpty else {
                FileHandle.standardError.write(Data("give --id N (repeatable) or --all\n".utf8))
                throw ExitCode(2)
            }
            do {
                let n = try await location.replay(ids: all ? [] : ids)
                print("\(n) dead letters marked for replay")
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}
