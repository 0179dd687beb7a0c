import Hub
import Testing

/// A store call whose task is cancelled (a daemon stopped while starting or shutting down) fails as a cancellation,
/// never as an "internal storage error".
@Suite struct HubCancellationTests {
    @Test func aCancelledCallIsACancellationNotAStorageError() async throws {
        try await withHub { hub, _ in
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await hub.purgeExpired()
            }
            let result = await task.result
            #expect(throws: HubError.cancelled) { try result.get() }
        }
    }

    @Test func aCallThatIsNotCancelledStillWorks() async throws {
        try await withHub { hub, _ in
            let removed = try await hub.purgeExpired()
            #expect(removed == 0)
        }
    }
}
