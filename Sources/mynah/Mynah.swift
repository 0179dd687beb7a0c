import ArgumentParser
import Foundation
import Logging
import Mynah

/// The `mynah` command line: `run` the daemon (the default) or `check` a configuration.
@main
struct MynahCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mynah",
        abstract: "Chat bots, a push-to-IM bridge and an embedded JMessage-compatible IM hub.",
        subcommands: [Run.self, Check.self, Reload.self, Callbacks.self, HashPassword.self],
        defaultSubcommand: Run.self)
}

/// Options shared by the subcommands.
struct ConfigOption: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file.")
    var config: String = "bots.yaml"
}

/// `mynah run`: runs the daemon until SIGINT or SIGTERM.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon (the default command).")

    @OptionGroup var options: ConfigOption

    @Option(help: "Listen on this port instead of the configured one (0 lets the OS choose).")
    var port: Int?

    @Option(help: "Keep data in this directory instead of the configured one.")
    var dataDir: String?

    @Option(help: "Seconds a graceful shutdown (after SIGINT or SIGTERM) may take before mynah exits anyway (default 10).")
    var shutdownTimeout: Int?

    @Option(help: "bcrypt cost of new password hashes (4 to 31; default 10). A test and benchmark knob: lower is faster and weaker.")
    var passwordCost: Int?

    @Flag(help: "Shut down (as on SIGTERM) once the process that started mynah exits. For tests and supervisors that run mynah as a child, so that a crashed parent leaves nothing running.")
    var exitWithParent = false

    @Flag(help: "Embedded bots log in over the daemon's own gateway (loopback WebSocket) instead of in process. A benchmark knob.")
    var botsOverGateway = false

    func run() async throws {
        // Taken first, before anything that takes time: the process that started this one.
        let parent = getppid()
        var config: MynahConfiguration
        do {
            config = try ConfigurationLoader.load(path: options.config) { config throws(ConfigurationError) in
                try Daemon.check(config)
            }
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(2)
        }
        if let port {
            guard (0...65535).contains(port) else {
                FileHandle.standardError.write(Data("--port: expected 0 to 65535, got \(port)\n".utf8))
                throw ExitCode(2)
            }
            config.listen.port = port
        }
        if let dataDir { config.dataDirectory = dataDir }
        var daemonOptions = Daemon.Options()
        if let passwordCost {
            guard (4...31).contains(passwordCost) else {
                FileHandle.standardError.write(Data("--password-cost: expected 4 to 31, got \(passwordCost)\n".utf8))
                throw ExitCode(2)
            }
            daemonOptions.passwordCost = UInt8(passwordCost)
        }
        if let shutdownTimeout {
            guard shutdownTimeout > 0 else {
                FileHandle.standardError.write(Data("--shutdown-timeout: expected a positive number of seconds, got \(shutdownTimeout)\n".utf8))
                throw ExitCode(2)
            }
            daemonOptions.shutdownTimeout = .seconds(shutdownTimeout)
        }
        let level = Logger.Level(rawValue: config.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        daemonOptions.configurationPath = options.config
        daemonOptions.botsOverGateway = botsOverGateway
        if exitWithParent { daemonOptions.parentProcess = parent }
        do {
            try await Daemon.run(configuration: config, options: daemonOptions, logger: Logger(label: "mynah"))
        } catch let error as ListenError {
            FileHandle.standardError.write(Data("mynah: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// `mynah check`: validates a configuration and prints `file:LINE:COLUMN: path: message` for every error, and the
/// warnings of a valid one.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a configuration file.")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        do {
            let config = try ConfigurationLoader.load(path: options.config) { config throws(ConfigurationError) in
                try Daemon.check(config)
            }
            for warning in config.warnings {
                FileHandle.standardError.write(Data("\(options.config): warning: \(warning)\n".utf8))
            }
            print("\(options.config): ok (\(config.apps.count) apps, \(config.bots.count) bots)")
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// `mynah reload`: asks the running daemon (found through `<data_dir>/mynah.pid`) to re-read its configuration.
struct Reload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make the running daemon re-read its configuration (sends SIGHUP to the pid in <data-dir>/mynah.pid).")

    @OptionGroup var options: ConfigOption

    @Option(help: "The daemon's data directory instead of the configured one.")
    var dataDir: String?

    func run() async throws {
        do {
            let directory: String
            if let dataDir {
                directory = dataDir
            } else {
                directory = try ConfigurationLoader.load(path: options.config).dataDirectory
            }
            let pid = try ReloadSignal.send(dataDirectory: directory)
            print("sent SIGHUP to mynah (pid \(pid)); the daemon logs the outcome")
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
