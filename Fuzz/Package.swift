// swift-tools-version:6.0
// libFuzzer targets for Mynah's parsers (scripts/fuzz.sh builds and runs them; docs/fuzzing.md).
//
// A package of its own, so that `swift build` and `swift test` of Mynah never see it. It compiles the parsers'
// own source files (symlinks into ../Sources) rather than depending on Mynah's modules, so a fuzzer build
// instruments and rebuilds a few files, not the daemon with all its dependencies.
import PackageDescription

// Coverage-guided and address-sanitized: every target here, never the dependencies (Yams is taken as it is).
let fuzz: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-enable-testing"])]
let link: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address"])]

let targets = ["fuzz-json", "fuzz-gateway-frame", "fuzz-multipart", "fuzz-image", "fuzz-audio", "fuzz-config", "fuzz-cron"]
let needs: [String: [Target.Dependency]] = [
    "fuzz-json": ["IMProtocol"],
    "fuzz-gateway-frame": ["IMProtocol"],
    "fuzz-multipart": ["Media"],
    "fuzz-image": ["Media"],
    "fuzz-audio": ["Media"],
    "fuzz-config": ["ConfigWalker", "IMProtocol", .product(name: "Yams", package: "Yams")],
    "fuzz-cron": ["Cron"],
]

let package = Package(
    name: "mynah-fuzz",
    products: targets.map { .executable(name: $0, targets: [$0]) },
    dependencies: [.package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2")],
    targets: [
        // Mynah's wire types (Sources/IMProtocol): the JSON parser and the gateway frames.
        .target(name: "IMProtocol", swiftSettings: fuzz),
        // The multipart parser and the media sniffers of Sources/Server/Media.
        .target(name: "Media", swiftSettings: fuzz),
        // BotKit's cron parser and the CommandError it throws.
        .target(name: "Cron", dependencies: ["IMProtocol"], swiftSettings: fuzz),
        // The generic YAML walker of Sources/Mynah/Configuration with the errors and interpolation it uses.
        .target(name: "ConfigWalker", dependencies: ["IMProtocol", .product(name: "Yams", package: "Yams")], swiftSettings: fuzz),
        .target(name: "FuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["FuzzDriver"], swiftSettings: fuzz),
    ] + targets.map { name in
        .executableTarget(name: name, dependencies: ["FuzzSupport"] + needs[name]!, swiftSettings: fuzz, linkerSettings: link)
    }
)
