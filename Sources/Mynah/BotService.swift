import BotKit
import IMClient
import Logging
import ServiceLifecycle

/// Runs every configured bot: logs each in over the gateway as its robot account and serves its deliveries,
/// reconnecting with capped exponential backoff until the daemon shuts down.
struct BotService: Service {
    struct Entry: Sendable {
        var bot: Bot
        var password: String
    }

    let entries: [Entry]
    let gatewayURL: @Sendable () async -> String
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            let url = await gatewayURL()
            await withDiscardingTaskGroup { group in
                for entry in entries {
                    group.addTask { await runBot(entry, url: url) }
                }
            }
        }
    }

    /// Logs the bot in, retrying with the client's backoff policy until it succeeds; once online, the client
    /// itself reconnects and resumes. Returns on cancellation.
    func runBot(_ entry: Entry, url: String) async {
        let policy = ReconnectPolicy.standard
        var generator = SystemRandomNumberGenerator()
        var logger = logger
        logger[metadataKey: "bot"] = "\(entry.bot.name)"
        var attempt = 0
        while !Task.isCancelled {
            do {
                let (client, _) = try await IMClient.connect(
                    .init(url: url, appKey: entry.bot.appKey, username: entry.bot.username, password: entry.password,
                          platform: "api", device: "bot"),
                    reconnect: policy, logger: logger)
                logger.info("bot online", metadata: ["username": "\(entry.bot.username)"])
                attempt = 0
                await withTaskCancellationHandler {
                    await entry.bot.serve(client)
                } onCancel: {
                    client.close()
                }
                client.close()
                if Task.isCancelled { return }
                logger.warning("bot connection lost for good; logging in again")
            } catch {
                attempt += 1
                logger.warning("bot login failed; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
            }
            do {
                try await Task.sleep(for: policy.delay(attempt: max(attempt, 1), using: &generator))
            } catch {
                return
            }
        }
    }
}
