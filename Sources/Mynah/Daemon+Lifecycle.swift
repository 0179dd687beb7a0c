import Foundation
import HubPostgres
import Logging
import Server
import ServiceLifecycle

/// The server could not listen on its address; what ``Daemon/run(configuration:options:logger:)`` throws when the
/// port is taken.
public typealias ListenError = Server.ListenError

extension Daemon {
    /// Opens the daemon of `configuration` and runs it until SIGINT or SIGTERM, with the signals trapped from the
    /// start: a signal while it is still starting stops the start, the first signal while running shuts it down
    /// gracefully, and in every state a second signal, or a shutdown longer than `options.shutdownTimeout`, ends
    /// the process at once. With `options.parentProcess`, that process ending acts as a first SIGTERM. Throws
    /// ``ListenError`` when the server cannot listen (the port is taken).
    public static func run(configuration: MynahConfiguration, options: Options, logger: Logger) async throws {
        // From the start, as NIO does once it opens a socket: a log line written after its reader is gone (the
        // parent crashed) fails with EPIPE instead of killing the daemon, whatever state it is in.
        signal(SIGPIPE, SIG_IGN)
        let signals = ShutdownSignals(timeout: options.shutdownTimeout, logger: logger, parent: options.parentProcess)
        defer { signals.finish() }
        logger.info("starting", metadata: ["address": "\(configuration.listen.host):\(configuration.listen.port)"])
        let start = Task {
            let daemon = try await Daemon(configuration: configuration, options: options, logger: logger)
            try Task.checkCancellation()
            try await daemon.run(signals: signals)
        }
        // Opening the store and registering the robots: a signal now cancels that and the services never start.
        signals.whenSignalled { start.cancel() }
        do {
            try await start.value
        } catch where signals.isRequested && !(error is ListenError) {
            // Cut short by the signal: whatever the start was doing when cancelled failed, as it should.
            logger.info("stopped", metadata: ["error": "\(error)"])
        }
    }

    /// Runs the services until `signals` asks for a graceful shutdown; a daemon whose server cannot listen stops
    /// at once with ``ListenError``.
    func run(signals: ShutdownSignals) async throws {
        for warning in configuration.warnings { logger.warning("\(warning)") }
        botRuntime.writePIDFile()
        defer { botRuntime.removePIDFile() }
        let runtime = botRuntime
        signals.beforeForcedExit { runtime.removePIDFile() }
        let group = ServiceGroup(configuration: .init(services: services(), logger: logger))
        guard signals.whenSignalled({ Task { await group.triggerGracefulShutdown() } }) else {
            await postgres?.close()
            return
        }
        do {
            try await group.run()
        } catch {
            await postgres?.close()
            throw error
        }
        await postgres?.close()
    }
}

/// The HTTP server as a service that reports a failed bind as ``ListenError`` to whoever waits for the port (the
/// bots, tests), so that nothing waits for a port that never comes and the daemon ends saying why.
struct ListeningService<HTTP: Service>: Service {
    let server: HTTP
    let port: PortSignal
    let host: String
    let configuredPort: Int

    func run() async throws {
        do {
            try await server.run()
            port.fail(CancellationError())
        } catch {
            let reported = ListenError(error, host: host, port: configuredPort) ?? error
            port.fail(reported)
            throw reported
        }
    }
}
