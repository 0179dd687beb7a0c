import Foundation
import Testing
@testable import Server

/// The one reader of `Authorization: Basic` for the REST and push APIs.
@Suite struct BasicCredentialsTests {
    static func header(_ text: String) -> String { "Basic " + Data(text.utf8).base64EncodedString() }

    @Test func readsUserAndPasswordSplitAtTheFirstColon() {
        #expect(BasicCredentials.parse(Self.header("k1:sec:ret")) == .success(.init(user: "k1", password: "sec:ret")))
        #expect(BasicCredentials.parse("basic " + Data("k1:s".utf8).base64EncodedString() + "  ")
                    == .success(.init(user: "k1", password: "s")))
        #expect(BasicCredentials.parse(Self.header("k1:")) == .success(.init(user: "k1", password: "")))
        #expect(BasicCredentials.parse("BASIC \t" + Data("k1:s".utf8).base64EncodedString() + "\t")
                    == .success(.init(user: "k1", password: "s")))
        #expect(BasicCredentials.parse(Self.header("ключ:пароль")) == .success(.init(user: "ключ", password: "пароль")))
    }

    @Test func tellsAMissingHeaderFromABadOne() {
        #expect(BasicCredentials.parse(nil) == .failure(.missing))
        #expect(BasicCredentials.parse("Bearer abc") == .failure(.malformed))
        #expect(BasicCredentials.parse("Basic !!!") == .failure(.malformed))
        #expect(BasicCredentials.parse(Self.header("no-colon")) == .failure(.malformed))
        #expect(BasicCredentials.parse("Basic") == .failure(.malformed))
        #expect(BasicCredentials.parse("Basic " + Data([0xff, 0x3a]).base64EncodedString()) == .failure(.malformed))
        #expect(BasicCredentials.parse("Basic ") == .failure(.malformed))
        #expect(BasicCredentials.parse("Basicx " + Data("k1:s".utf8).base64EncodedString()) == .failure(.malformed))
        #expect(BasicCredentials.parse("Basic azE6cw") == .failure(.malformed), "base64 without its padding")
        #expect(BasicCredentials.parse("Basic azE6cw==") == .success(.init(user: "k1", password: "s")))
    }
}
