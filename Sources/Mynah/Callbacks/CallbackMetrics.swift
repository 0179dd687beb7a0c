import CoreMetrics
import Metrics

/// One routing destination's metrics, labelled by app and URL: messages and events delivered, failed attempts, dead letters
/// waiting (what an operator alerts on) and replays.
struct CallbackMetrics: Sendable {
    let delivered: Counter
    let events: Counter
    let failures: Counter
    let deadLetters: Meter
    let replays: Counter

    init(_ callback: MynahConfiguration.Callback, factory: any MetricsFactory) {
        let dimensions = [("appkey", callback.appKey), ("url", callback.url)]
        delivered = Counter(label: "mynah_callback_messages_total", dimensions: dimensions, factory: factory)
        events = Counter(label: "mynah_callback_events_total", dimensions: dimensions, factory: factory)
        failures = Counter(label: "mynah_callback_failures_total", dimensions: dimensions, factory: factory)
        deadLetters = Meter(label: "mynah_callback_dead_letters", dimensions: dimensions, factory: factory)
        replays = Counter(label: "mynah_callback_replays_total", dimensions: dimensions, factory: factory)
    }
}
