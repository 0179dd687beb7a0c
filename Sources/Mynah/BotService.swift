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

    func runBot(_ entry: Entry, url: String) async {
        var delay: Duration = .milliseconds(100)
        var logger = logger
        logger[metadataKey: "bot"] = "\(entry.bot.name)"
        while !Task.isCancelled {
            do {
                let (client, _) = try await IMClient.connect(
                    .init(url: url, appKey: entry.bot.appKey, username: entry.bot.username, password: entry.password,
                          platform: "api", device: "bot"),
                    logger: logger)
                logger.info("bot online", metadata: ["username": "\(entry.bot.username)"])
                delay = .milliseconds(100)
                await withTaskCancellationHandler {
                    await entry.bot.serve(client)
                } onCancel: {
                    client.close()
                }
                client.close()
                if Task.isCancelled { return }
                logger.warning("bot connection closed; reconnecting")
            } catch {
                logger.warning("bot login failed; retrying", metadata: ["error": "\(error)", "in": "\(delay)"])
            }
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
            delay = min(delay * 2, .seconds(10))
        }
    }
}
