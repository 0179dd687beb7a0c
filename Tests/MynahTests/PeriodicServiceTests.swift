import Logging
import ServiceLifecycle
import Testing
@testable import Mynah

/// The one periodic loop (inbox janitor, bridge deadlines): passes on its schedule, returns on graceful shutdown.
@Suite struct PeriodicServiceTests {
    @Test func runsAtOnceThenStopsOnGracefulShutdownWithoutThrowing() async throws {
        let (passes, continuation) = AsyncStream.makeStream(of: Void.self)
        let service = PeriodicService(interval: .seconds(3600), start: .immediately) { continuation.yield() }
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = passes.makeAsyncIterator()
            #expect(await iterator.next() != nil)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func waitsAnIntervalFirstWhenAsked() async throws {
        let (passes, continuation) = AsyncStream.makeStream(of: Void.self)
        let service = PeriodicService(interval: .seconds(3600), start: .afterInterval) { continuation.yield() }
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        continuation.finish()
        var count = 0
        for await _ in passes { count += 1 }
        #expect(count == 0)
    }
}
