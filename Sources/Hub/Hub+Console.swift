import HummingbirdBcrypt
import NIOPosix

extension Hub {
    /// Checks a password against a bcrypt hash made elsewhere (a console operator's, from `bots.yaml`), off the
    /// concurrency threads; a malformed hash is a mismatch.
    public static func verifyBcrypt(_ password: String, hash: String) async -> Bool {
        guard password.utf8.count <= 72 else { return false }
        return (try? await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }) ?? false
    }

    /// Hashes with bcrypt (for tools and tests that make operator hashes).
    public static func bcryptHash(_ password: String, cost: UInt8 = 10) -> String {
        Bcrypt.hash(password, cost: cost)
    }
}
