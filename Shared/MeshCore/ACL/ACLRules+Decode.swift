extension ACLRules {
    /// Parses and validates a policy's `Rules` text, HCL or JSON, as Consul does on policy write.
    ///
    /// Empty (or blank) text means no rules. Keys are matched case-insensitively, as `hcl.Decode`
    /// matches them; names are kept as written. Fails on syntax errors, unknown keys, missing or
    /// invalid policies (`list` only for `key` / `key_prefix`), and `intentions` outside service rules.
    public static func parse(_ text: String) throws(ACLRulesError) -> ACLRules {
        let document: HCLValue
        do throws(HCLError) {
            document = try HCLParser.parse(text)
        } catch {
            throw ACLRulesError(error)
        }
        return try ACLRules(decoding: document)
    }

    /// The rules in an already parsed document (an object of rule blocks and singletons).
    public init(decoding document: HCLValue) throws(ACLRulesError) {
        self.init()
        guard let members = document.members else {
            throw ACLRulesError("ACL rules must be an object", at: document.position)
        }
        for member in members {
            let key = member.key.lowercased()
            if let singleton = ACLSingleton(rawValue: key) {
                let level = try Self.singletonLevel(member, named: singleton.rawValue)
                self[singleton] = Self.merge(self[singleton], level)
            } else if let block = Self.ruleBlock(named: key), let path = Self.ruleSetPath(block.resource) {
                for entry in try Self.entries(of: member.value, in: "\(key) block") {
                    let rule = try Self.rule(entry, kind: key, resource: block.resource)
                    self[keyPath: path].add(rule, for: entry.key, isPrefix: block.isPrefix)
                }
            } else {
                throw ACLRulesError("unknown key \(HCLToken.quoted(member.key))", at: member.keyPosition)
            }
        }
    }

    /// The resource and form a top-level block key names (`service_prefix` → service, prefix).
    private static func ruleBlock(named key: String) -> (resource: ACLResource, isPrefix: Bool)? {
        let isPrefix = key.hasSuffix("_prefix")
        let base = isPrefix ? String(key.dropLast("_prefix".count)) : key
        guard let resource = ACLResource(rawValue: base), resource != .intention else { return nil }
        return (resource, isPrefix)
    }

    /// `acl = "write"`: a level, or nil for the empty string (Consul treats it as unset).
    private static func singletonLevel(_ member: HCLMember, named name: String) throws(ACLRulesError) -> ACLAccess? {
        guard let text = member.value.stringValue else {
            throw ACLRulesError("\(name) must be a string such as \"read\"", at: member.value.position)
        }
        if text.isEmpty { return nil }
        guard let access = ACLAccess(rawValue: text), access != .list else {
            throw ACLRulesError("invalid policy \(HCLToken.quoted(text)) for \(name)", at: member.value.position)
        }
        return access
    }

    /// The members of a block's value: an object, or (HCL JSON's other spelling) a list of objects.
    private static func entries(of value: HCLValue, in context: String) throws(ACLRulesError) -> [HCLMember] {
        if let members = value.members { return members }
        guard let list = value.listValue else {
            throw ACLRulesError("expected a \(context), found \(Self.describe(value))", at: value.position)
        }
        var members: [HCLMember] = []
        for element in list {
            guard let elementMembers = element.members else {
                throw ACLRulesError("expected a \(context), found \(Self.describe(element))", at: element.position)
            }
            members += elementMembers
        }
        return members
    }

    /// One named rule's body: `{ policy = "…" }`, plus `intentions` for services.
    private static func rule(_ entry: HCLMember, kind: String, resource: ACLResource) throws(ACLRulesError) -> ACLRule {
        let subject = "\(kind) \(HCLToken.quoted(entry.key))"
        var policy: ACLAccess?
        var intentions: ACLAccess?
        for field in try Self.entries(of: entry.value, in: "block for \(subject)") {
            switch field.key.lowercased() {
            case "policy":
                let access = try Self.level(field, of: subject, listOK: resource == .key)
                policy = Self.merge(policy, access)
            case "intentions" where resource == .service:
                let access = try Self.level(field, of: subject, listOK: false)
                intentions = Self.merge(intentions, access)
            default:
                throw ACLRulesError("unknown key \(HCLToken.quoted(field.key)) in \(subject)", at: field.keyPosition)
            }
        }
        guard let policy else {
            throw ACLRulesError("missing policy for \(subject)", at: entry.keyPosition)
        }
        return ACLRule(policy: policy, intentions: intentions)
    }

    /// A `policy` or `intentions` value; nil for JSON null (unset).
    private static func level(_ field: HCLMember, of subject: String, listOK: Bool) throws(ACLRulesError) -> ACLAccess?
    {
        let what = field.key.lowercased()
        if field.value.kind == .null { return nil }
        guard let text = field.value.stringValue else {
            throw ACLRulesError("\(what) for \(subject) must be a string such as \"read\"", at: field.value.position)
        }
        guard let access = ACLAccess(rawValue: text), listOK || access != .list else {
            throw ACLRulesError("invalid \(what) \(HCLToken.quoted(text)) for \(subject)", at: field.value.position)
        }
        return access
    }

    /// How a value reads in an error message.
    private static func describe(_ value: HCLValue) -> String {
        switch value.kind {
        case .null: "null"
        case .bool(let flag): "\(flag)"
        case .number: "a number"
        case .string(let text): "string \(HCLToken.quoted(text))"
        case .list: "a list"
        case .object: "a block"
        }
    }
}
