import Foundation

extension MeshTask {
    /// The meshed task as a CloudFormation template: the task definition with its keys in
    /// CloudFormation's casing, and a task role under `/consul-ecs/` tagged with the service
    /// name (what the auth method's bound ARN and binding rule look for), allowed to read
    /// itself (`iam:GetRole`, for the login's entity details).
    public func cloudFormation(from meshed: [String: Any]) -> [String: Any] {
        let base = Self.logicalID(self.service)
        let role = "\(base)TaskRole"
        var properties = Self.cloudFormationKeys(meshed) as? [String: Any] ?? [:]
        properties["TaskRoleArn"] = ["Fn::GetAtt": [role, "Arn"]]
        return [
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": "\(self.service) on the Swift service mesh (made by meshctl ecs mesh-task)",
            "Resources": [
                role: [
                    "Type": "AWS::IAM::Role",
                    "Properties": [
                        "Path": "/consul-ecs/",
                        "AssumeRolePolicyDocument": [
                            "Version": "2012-10-17",
                            "Statement": [
                                [
                                    "Effect": "Allow", "Principal": ["Service": "ecs-tasks.amazonaws.com"],
                                    "Action": "sts:AssumeRole",
                                ] as [String: Any]
                            ],
                        ] as [String: Any],
                        "Policies": [
                            [
                                "PolicyName": "mesh-login",
                                "PolicyDocument": [
                                    "Version": "2012-10-17",
                                    "Statement": [
                                        ["Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"] as [String: Any]
                                    ],
                                ] as [String: Any],
                            ] as [String: Any]
                        ],
                        "Tags": [["Key": Self.serviceNameTag, "Value": self.service]],
                    ] as [String: Any],
                ] as [String: Any],
                "\(base)TaskDefinition": ["Type": "AWS::ECS::TaskDefinition", "Properties": properties]
                    as [String: Any],
            ] as [String: Any],
            "Outputs": [
                "TaskDefinitionArn": ["Value": ["Ref": "\(base)TaskDefinition"]],
                "TaskRoleArn": ["Value": ["Fn::GetAtt": [role, "Arn"]]],
            ] as [String: Any],
        ]
    }

    /// `web-api` → `WebApi`, a valid CloudFormation logical ID.
    static func logicalID(_ name: String) -> String {
        name.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map { $0.prefix(1).uppercased() + $0.dropFirst() }
            .joined()
    }

    /// ECS API JSON (`containerDefinitions`, `portMappings`, …) in CloudFormation's property
    /// casing (`ContainerDefinitions`, `PortMappings`, …). The keys of free-form maps (log
    /// options, Docker labels) are the user's and stay as they are.
    static func cloudFormationKeys(_ value: Any, freeForm: Bool = false) -> Any {
        if let object = value as? [String: Any] {
            var result: [String: Any] = [:]
            for (key, child) in object {
                let converted = freeForm ? key : key.prefix(1).uppercased() + key.dropFirst()
                result[converted] = Self.cloudFormationKeys(child, freeForm: ["options", "dockerLabels"].contains(key))
            }
            return result
        }
        if let array = value as? [Any] { return array.map { Self.cloudFormationKeys($0) } }
        return value
    }
}
