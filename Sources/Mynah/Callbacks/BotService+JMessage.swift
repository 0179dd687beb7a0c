import BotKit
import IMClient
import Logging

extension BotService {
    /// Runs a bot whose hub is the real JMessage (`hub.jmessage`): registers its admin account, then serves what
    /// the app's routing callbacks bring for it, reconnecting with the client's backoff until cancelled.
    func runJMessageBot(_ entry: Entry, _ settings: MynahConfiguration.JMessageHub) async {
        var logger = logger
        logger[metadataKey: "bot"] = "\(entry.spec.name)"
        let bot = entry.bot
        guard let inbound = jmessage, let route = inbound.route(for: entry.spec) else {
            logger.error("bot on JMessage not started: its callback_path is new and needs a restart of the daemon",
                         metadata: ["callback_path": "\(settings.callbackPath)"])
            return
        }
        await bot.start()
        let policy = ReconnectPolicy.standard
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        while !Task.isCancelled {
            do {
                let connection = try await JMessageConnection.open(
                    route: route, password: entry.spec.password, nickname: entry.spec.nickname, outbox: inbound.outbox,
                    logger: logger)
                logger.info("bot online on JMessage", metadata: ["username": "\(entry.spec.username)",
                                                                 "api": "\(settings.api)",
                                                                 "callback_path": "\(settings.callbackPath)"])
                attempt = 0
                await withTaskCancellationHandler {
                    await bot.serve(connection)
                } onCancel: {
                    connection.close()
                }
                connection.close()
                if Task.isCancelled { break }
            } catch {
                attempt += 1
                logger.warning("bot cannot reach JMessage; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
            }
            do {
                try await Task.sleep(for: policy.delay(attempt: max(attempt, 1), using: &generator))
            } catch {
                break
            }
        }
        await bot.stop()
    }
}
