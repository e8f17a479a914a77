// ConversationFiles: reads fine-tuning dialogues from the formats they ship in.
//   messages JSONL  {"messages": [{"role", "content"}]} per line (OpenAI's fine-tuning format)
//   ShareGPT        {"conversations": [{"from": "human"|"gpt"|"system", "value"}]} records: a JSON array (read
//                   record by record, so a truncated file yields the records before the cut) or one per JSONL line
//   chitchat        {"ID": {"messages": [[{"text", "sender"}, ...], ...]}} (chitchat-dataset): turns alternate
//                   between two people; the first speaks as the user
//   chatterbot      YAML `conversations:` lists of lines (chatterbot-corpus): lines alternate user, assistant
import ForgeCore
import ForgeTokenizer
import Foundation
import Yams

/// The file formats `ConversationFiles.read` understands.
public enum ConversationFormat: String, CaseIterable, Sendable {
    case auto, messages, sharegpt, chitchat, chatterbot
}

/// What reading a set of files gave: conversations, and what was skipped and why.
public struct ConversationSet: Sendable {
    public var conversations: [Conversation] = []
    /// Notes for the user (a truncated file, records dropped).
    public var notes: [String] = []
}

public enum ConversationFiles {
    /// Reads every file (directories: their .jsonl/.json/.yml/.yaml files, in name order). Invalid conversations
    /// are errors naming the file and record.
    public static func read(_ paths: [String], format: ConversationFormat = .auto) throws -> ConversationSet {
        var out = ConversationSet()
        for path in try expand(paths) {
            let f = format == .auto ? try detect(path) : format
            switch f {
            case .messages, .auto: try readJSONL(path, into: &out)
            case .sharegpt: path.hasSuffix(".jsonl") ? try readJSONL(path, into: &out) : try readShareGPTArray(path, into: &out)
            case .chitchat: try readChitchat(path, into: &out)
            case .chatterbot: try readChatterbot(path, into: &out)
            }
        }
        for c in out.conversations { try c.validate() }
        guard !out.conversations.isEmpty else { throw ForgeError("no conversations in \(paths.joined(separator: ", "))") }
        return out
    }

    static func expand(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        let fm = FileManager.default
        for p in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: p, isDirectory: &isDir) else { throw ForgeError.file(p, "no such file or directory") }
            if isDir.boolValue {
                let names = try fm.contentsOfDirectory(atPath: p).sorted()
                files += names.filter { [".jsonl", ".json", ".yml", ".yaml"].contains(where: $0.hasSuffix) }.map { p + "/" + $0 }
            } else {
                files.append(p)
            }
        }
        return files
    }

    /// The format of a file from its name and first bytes.
    static func detect(_ path: String) throws -> ConversationFormat {
        if path.hasSuffix(".yml") || path.hasSuffix(".yaml") { return .chatterbot }
        if path.hasSuffix(".jsonl") { return .messages }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ForgeError.file(path, "cannot be read") }
        defer { try? handle.close() }
        let head = String(decoding: handle.readData(ofLength: 4096), as: UTF8.self)
        guard let first = head.first(where: { !$0.isWhitespace }) else { throw ForgeError.file(path, "empty file") }
        if first == "[" { return .sharegpt }
        if first == "{" { return head.contains("\"messages\": [[") || head.contains("\"messages\":[[") ? .chitchat : .messages }
        throw ForgeError.file(path, "not a conversation file (JSON, JSONL or YAML expected)")
    }

    // MARK: - JSON lines

    static func readJSONL(_ path: String, into out: inout ConversationSet) throws {
        var found: [Conversation] = []
        try forEachJSONLine(path) { object, origin in found.append(try conversation(object, origin: origin)) }
        out.conversations += found
    }

    /// A conversation from an OpenAI `messages` or ShareGPT `conversations` object.
    static func conversation(_ object: [String: Any], origin: String) throws -> Conversation {
        if let messages = object["messages"] as? [Any] {
            return Conversation(messages: try messages.enumerated().map { i, m in
                guard let m = m as? [String: Any], let role = m["role"] as? String, let content = m["content"] as? String else {
                    throw ForgeError("\(origin): message \(i) lacks a string 'role' or 'content'")
                }
                return ChatMessage(role: role, content: content)
            }, origin: origin)
        }
        if let turns = object["conversations"] as? [Any] {
            return Conversation(messages: try turns.enumerated().map { i, t in
                guard let t = t as? [String: Any], let from = t["from"] as? String, let value = t["value"] as? String else {
                    throw ForgeError("\(origin): turn \(i) lacks a string 'from' or 'value'")
                }
                return ChatMessage(role: shareGPTRoles[from] ?? from, content: value)
            }, origin: origin)
        }
        throw ForgeError("\(origin): neither 'messages' nor 'conversations'")
    }

    static let shareGPTRoles = ["human": "user", "user": "user", "gpt": "assistant", "chatgpt": "assistant", "bing": "assistant",
                                "bard": "assistant", "assistant": "assistant", "system": "system"]

    // MARK: - ShareGPT arrays, record by record

    /// Reads the objects of a top-level JSON array one by one; a truncated last record ends the file with a note.
    static func readShareGPTArray(_ path: String, into out: inout ConversationSet) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw ForgeError.file(path, "cannot be read") }
        var records = 0, skipped = 0
        let truncated = try JSONRecords.forEachObject(in: data, path: path) { bytes in
            records += 1
            let origin = "\(path)#\(records)"
            guard let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any] else {
                throw ForgeError("\(origin): not a JSON object")
            }
            var c = try conversation(object, origin: origin)
            // ShareGPT holds empty and one-sided records; they teach nothing, so they are dropped and counted.
            c.messages.removeAll { $0.content.isEmpty }
            if (try? c.validate()) == nil { skipped += 1; return }
            out.conversations.append(c)
        }
        if truncated { out.notes.append("\(path): the file is truncated; \(records) whole records read before the cut") }
        if skipped > 0 { out.notes.append("\(path): \(skipped) records without a valid user/assistant exchange skipped") }
    }

    // MARK: - chitchat-dataset

    static func readChitchat(_ path: String, into out: inout ConversationSet) throws {
        guard let data = FileManager.default.contents(atPath: path),
              let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ForgeError.file(path, "not a chitchat JSON object")
        }
        for key in root.keys.sorted() {
            let origin = "\(path)#\(key)"
            guard let entry = root[key] as? [String: Any], let turns = entry["messages"] as? [[Any]] else {
                throw ForgeError("\(origin): no 'messages' list of turns")
            }
            var messages: [ChatMessage] = []
            for (i, turn) in turns.enumerated() {
                let text = turn.compactMap { ($0 as? [String: Any])?["text"] as? String }.joined(separator: "\n")
                guard !text.isEmpty else { continue }
                messages.append(ChatMessage(role: i % 2 == 0 ? "user" : "assistant", content: text))
            }
            if messages.last?.role == "user" { messages.removeLast() }
            guard messages.count >= 2 else { continue }
            out.conversations.append(Conversation(messages: messages, origin: origin))
        }
    }

    // MARK: - chatterbot-corpus

    static func readChatterbot(_ path: String, into out: inout ConversationSet) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ForgeError.file(path, "cannot be read as UTF-8") }
        let yaml: Any?
        do { yaml = try Yams.load(yaml: text) } catch { throw ForgeError.file(path, "invalid YAML: \(error)") }
        guard let root = yaml as? [String: Any], let conversations = root["conversations"] as? [Any] else {
            throw ForgeError.file(path, "no 'conversations' list")
        }
        for (i, c) in conversations.enumerated() {
            let origin = "\(path)#\(i + 1)"
            guard let lines = c as? [Any] else { throw ForgeError("\(origin): a conversation is a list of lines") }
            var messages = lines.enumerated().map { j, l in
                ChatMessage(role: j % 2 == 0 ? "user" : "assistant", content: (l as? String) ?? "\(l)")
            }
            if messages.last?.role == "user" { messages.removeLast() }
            guard messages.count >= 2 else { continue }
            out.conversations.append(Conversation(messages: messages, origin: origin))
        }
    }
}
