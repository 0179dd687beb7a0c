@testable import BotKit
import Testing

/// A bot acknowledges an inbox entry only when it and every entry before it are done, and recognises redeliveries.
@Suite struct EventAcksTests {
    @Test func entriesAreAcknowledgedInArrivalOrderOnceEveryHoldIsReleased() {
        let acks = EventAcks()
        for seq in Int64(1)...3 { #expect(acks.arrive(seq) == .new) }
        // Entry 1 goes to two plugins, entry 2 to one, entry 3 to one with a send.
        acks.retain(1); acks.retain(1); acks.retain(2); acks.retain(3); acks.retain(3)
        for seq in Int64(1)...3 { #expect(acks.release(seq) == nil) }   // the dispatches' holds
        #expect(acks.release(3) == nil)       // entry 3's plugin is done, its send is not
        #expect(acks.release(2) == nil)       // entry 2 done, but entry 1 is not
        #expect(acks.release(1) == nil)       // one of entry 1's plugins is done
        #expect(acks.release(1) == 2)         // entry 1 done: 1 and 2 may be acknowledged
        #expect(acks.release(3) == 3)         // the send is stored
        #expect(acks.heldCount == 0)
        #expect(acks.release(3) == nil)       // a stray release changes nothing
    }

    @Test func redeliveriesAreRecognised() {
        let acks = EventAcks()
        #expect(acks.arrive(7) == .new)
        #expect(acks.arrive(7) == .pending)   // redelivered while held: dropped, its acknowledgement will come
        #expect(acks.release(7) == 7)
        #expect(acks.arrive(7) == .done)      // redelivered after it was done: acknowledged again
        #expect(acks.arrive(8) == .new)
    }

    @Test func finishedEntriesAreForgottenBeyondTheLimit() {
        let acks = EventAcks()
        let count = Int64(EventAcks.remembered + 10)
        for seq in 1...count {
            #expect(acks.arrive(seq) == .new)
            #expect(acks.release(seq) == seq)
        }
        #expect(acks.arrive(1) == .new)       // long forgotten: the hub would not deliver it again anyway
        #expect(acks.arrive(count) == .done)
    }
}
