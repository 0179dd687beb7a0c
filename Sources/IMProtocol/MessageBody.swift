/// The kind of a message, `msg_type` on the wire.
public enum MessageType: String, Sendable, Hashable, Codable, CaseIterable {
    case text, voice, image, file, location, video, custom
}

/// A typed `msg_body`, one case per `msg_type` of protocol v1.
///
/// Every body keeps the fields it does not know in `additionalFields`, so a message passes
/// through Mynah unchanged even when a client adds its own keys.
public enum MessageBody: Sendable, Hashable {
    case text(Text)
    case voice(Voice)
    case image(Image)
    case file(File)
    case location(Location)
    case video(Video)
    /// A developer-defined body: any JSON object.
    case custom([String: JSONValue])

    /// The `msg_type` that goes with this body.
    public var type: MessageType {
        switch self {
        case .text: .text
        case .voice: .voice
        case .image: .image
        case .file: .file
        case .location: .location
        case .video: .video
        case .custom: .custom
        }
    }

    /// A plain text body.
    public static func text(_ text: String, extras: [String: JSONValue]? = nil) -> MessageBody {
        .text(Text(text: text, extras: extras))
    }

    /// The text of a text body, otherwise `nil`.
    public var text: String? {
        if case .text(let t) = self { return t.text }
        return nil
    }

    /// `msg_type = text`.
    public struct Text: Sendable, Hashable {
        /// The message text.
        public var text: String
        /// Optional additional parameters.
        public var extras: [String: JSONValue]?
        /// Keys this version does not know, kept for round-tripping.
        public var additionalFields: [String: JSONValue] = [:]
        /// Creates a text body.
        public init(text: String, extras: [String: JSONValue]? = nil) {
            self.text = text
            self.extras = extras
        }
    }

    /// `msg_type = voice`.
    public struct Voice: Sendable, Hashable {
        /// Media key from the resource API.
        public var mediaID: String
        /// CRC32 of the file.
        public var mediaCRC32: Int64
        /// Duration in seconds.
        public var duration: Double
        /// Audio format, e.g. `amr`.
        public var format: String
        /// File size in bytes.
        public var fsize: Int64
        /// Optional additional parameters.
        public var extras: [String: JSONValue]?
        /// Keys this version does not know, kept for round-tripping.
        public var additionalFields: [String: JSONValue] = [:]
        /// Creates a voice body.
        public init(mediaID: String, mediaCRC32: Int64, duration: Double, format: String, fsize: Int64,
                    extras: [String: JSONValue]? = nil) {
            self.mediaID = mediaID
            self.mediaCRC32 = mediaCRC32
            self.duration = duration
            self.format = format
            self.fsize = fsize
            self.extras = extras
        }
    }

    /// `msg_type = image`.
    public struct Image: Sendable, Hashable {
        /// Media key from the resource API.
        public var mediaID: String
        /// CRC32 of the file.
        public var mediaCRC32: Int64
        /// Width in pixels.
        public var width: Double
        /// Height in pixels.
        public var height: Double
        /// Image format, e.g. `png`.
        public var format: String?
        /// File size in bytes.
        public var fsize: Int64
        /// Optional link to the picture.
        public var imgLink: String?
        /// Optional additional parameters.
        public var extras: [String: JSONValue]?
        /// Keys this version does not know, kept for round-tripping.
        public var additionalFields: [String: JSONValue] = [:]
        /// Creates an image body.
        public init(mediaID: String, mediaCRC32: Int64, width: Double, height: Double, format: String? = nil,
                    fsize: Int64, imgLink: String? = nil, extras: [String: JSONValue]? = nil) {
            self.mediaID = mediaID
            self.mediaCRC32 = mediaCRC32
            self.width = width
            self.height = height
            self.format = format
            self.fsize = fsize
            self.imgLink = imgLink
            self.extras = extras
        }
    }

    /// `msg_type = file`.
    public struct File: Sendable, Hashable {
        /// Media key from the resource API.
        public var mediaID: String
        /// CRC32 of the file.
        public var mediaCRC32: Int64
        /// File size in bytes.
        public var fsize: Int64
        /// File name.
        public var fname: String
        /// Optional additional parameters.
        public var extras: [String: JSONValue]?
        /// Keys this version does not know, kept for round-tripping.
        public var additionalFields: [String: JSONValue] = [:]
        /// Creates a file body.
        public init(mediaID: String, mediaCRC32: Int64, fsize: Int64, fname: String, extras: [String: JSONValue]? = nil) {
            self.mediaID = mediaID
            self.mediaCRC32 = mediaCRC32
            self.fsize = fsize
            self.fname = fname
            self.extras = extras
        }
    }

    /// `msg_type = location`.
    public struct Location: Sendable, Hashable {
        /// Latitude in degrees.
        public var latitude: Double
        /// Longitude in degrees.
        public var longitude: Double
        /// Map zoom scale.
        public var scale: Double?
        /// Place description; read from `label` or the protocol document's spelling `lable`.
        public var label: String?
        /// Optional additional parameters.
        public var extras: [String: JSONValue]?
        /// Keys this version does not know, kept for round-tripping.
        public var additionalFields: [String: JSONValue] = [:]
        /// Creates a location body.
        public init(latitude: Double, longitude: Double, scale: Double? = nil, label: String? = nil,
                    extras: [String: JSONValue]? = nil) {
            self.latitude = latitude
            self.longitude = longitude
            self.scale = scale
            self.label = label
            self.extras = extras
        }
    }

    /// `msg_type = video`.
    public struct Video: Sendable, Hashable {
        /// Media key from the resource API.
        public var mediaID: String
        /// CRC32 of the file.
        public var mediaCRC32: Int64
        /// File size in bytes.
        public var fsize: Int64
        /// Duration in seconds.
        public var duration: Double?
        /// Container format, e.g. `mp4`.
        public var format: String?
        /// Media key of a thumbnail image.
        public var thumbMediaID: String?
        /// Optional additional parameters.
        public var extras: [String: JSONValue]?
        /// Keys this version does not know, kept for round-tripping.
        public var additionalFields: [String: JSONValue] = [:]
        /// Creates a video body.
        public init(mediaID: String, mediaCRC32: Int64, fsize: Int64, duration: Double? = nil, format: String? = nil,
                    thumbMediaID: String? = nil, extras: [String: JSONValue]? = nil) {
            self.mediaID = mediaID
            self.mediaCRC32 = mediaCRC32
            self.fsize = fsize
            self.duration = duration
            self.format = format
            self.thumbMediaID = thumbMediaID
            self.extras = extras
        }
    }
}

extension MessageBody {
    /// Validates `json` as the body of a message of type `type`; errors name the field under `path`.
    public init(type: MessageType, json: JSONValue, path: String = "msg_body") throws(ProtocolError) {
        let r = try JSONObjectReader(json, path: path)
        func rest(_ known: Set<String>) -> [String: JSONValue] {
            r.object.filter { !known.contains($0.key) }
        }
        let extras = try r.optionalObject("extras")
        switch type {
        case .text:
            var b = Text(text: try r.string("text"), extras: extras)
            b.additionalFields = rest(["text", "extras"])
            self = .text(b)
        case .voice:
            var b = Voice(mediaID: try r.nonEmptyString("media_id"), mediaCRC32: try r.int("media_crc32"),
                          duration: try r.double("duration"), format: try r.string("format"),
                          fsize: try r.int("fsize"), extras: extras)
            b.additionalFields = rest(["media_id", "media_crc32", "duration", "format", "fsize", "extras"])
            self = .voice(b)
        case .image:
            var b = Image(mediaID: try r.nonEmptyString("media_id"), mediaCRC32: try r.int("media_crc32"),
                          width: try r.double("width"), height: try r.double("height"),
                          format: try r.optionalString("format"), fsize: try r.int("fsize"),
                          imgLink: try r.optionalString("img_link"), extras: extras)
            b.additionalFields = rest(["media_id", "media_crc32", "width", "height", "format", "fsize", "img_link", "extras"])
            self = .image(b)
        case .file:
            var b = File(mediaID: try r.nonEmptyString("media_id"), mediaCRC32: try r.int("media_crc32"),
                         fsize: try r.int("fsize"), fname: try r.string("fname"), extras: extras)
            b.additionalFields = rest(["media_id", "media_crc32", "fsize", "fname", "extras"])
            self = .file(b)
        case .location:
            let label: String? = if let l = try r.optionalString("label") { l } else { try r.optionalString("lable") }
            var b = Location(latitude: try r.double("latitude"), longitude: try r.double("longitude"),
                             scale: try r.optionalDouble("scale"), label: label, extras: extras)
            b.additionalFields = rest(["latitude", "longitude", "scale", "label", "lable", "extras"])
            self = .location(b)
        case .video:
            var b = Video(mediaID: try r.nonEmptyString("media_id"), mediaCRC32: try r.int("media_crc32"),
                          fsize: try r.int("fsize"), duration: try r.optionalDouble("duration"),
                          format: try r.optionalString("format"), thumbMediaID: try r.optionalString("thumb_media_id"),
                          extras: extras)
            b.additionalFields = rest(["media_id", "media_crc32", "fsize", "duration", "format", "thumb_media_id", "extras"])
            self = .video(b)
        case .custom:
            self = .custom(r.object)
        }
    }

    /// The body as the JSON object that goes into `msg_body`.
    public var json: JSONValue {
        var o: [String: JSONValue]
        func put(_ extras: [String: JSONValue]?, _ additional: [String: JSONValue]) {
            for (k, v) in additional where o[k] == nil { o[k] = v }
            if let extras { o["extras"] = .object(extras) }
        }
        switch self {
        case .text(let b):
            o = ["text": .string(b.text)]
            put(b.extras, b.additionalFields)
        case .voice(let b):
            o = ["media_id": .string(b.mediaID), "media_crc32": .int(b.mediaCRC32), "duration": .number(b.duration),
                 "format": .string(b.format), "fsize": .int(b.fsize)]
            put(b.extras, b.additionalFields)
        case .image(let b):
            o = ["media_id": .string(b.mediaID), "media_crc32": .int(b.mediaCRC32), "width": .number(b.width),
                 "height": .number(b.height), "fsize": .int(b.fsize)]
            if let f = b.format { o["format"] = .string(f) }
            if let l = b.imgLink { o["img_link"] = .string(l) }
            put(b.extras, b.additionalFields)
        case .file(let b):
            o = ["media_id": .string(b.mediaID), "media_crc32": .int(b.mediaCRC32), "fsize": .int(b.fsize),
                 "fname": .string(b.fname)]
            put(b.extras, b.additionalFields)
        case .location(let b):
            o = ["latitude": .number(b.latitude), "longitude": .number(b.longitude)]
            if let s = b.scale { o["scale"] = .number(s) }
            if let l = b.label { o["label"] = .string(l) }
            put(b.extras, b.additionalFields)
        case .video(let b):
            o = ["media_id": .string(b.mediaID), "media_crc32": .int(b.mediaCRC32), "fsize": .int(b.fsize)]
            if let d = b.duration { o["duration"] = .number(d) }
            if let f = b.format { o["format"] = .string(f) }
            if let t = b.thumbMediaID { o["thumb_media_id"] = .string(t) }
            put(b.extras, b.additionalFields)
        case .custom(let c):
            o = c
        }
        return .object(o)
    }
}

extension JSONValue {
    /// A number, stored as an integer when it is whole so that it prints without a fraction.
    public static func number(_ d: Double) -> JSONValue {
        if d.rounded() == d && abs(d) <= 9_007_199_254_740_992 { return .int(Int64(d)) }
        return .double(d)
    }
}
