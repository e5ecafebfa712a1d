#!/usr/bin/env python3
"""Writes deploy/ecs/control-plane.json, the CloudFormation template of the mesh's control plane.

    python3 deploy/ecs/make_control_plane.py           rewrite the committed template
    python3 deploy/ecs/make_control_plane.py --check   fail if the committed template is stale

The five control-plane services are alike (a Fargate service behind two load balancers, with
its own role, log group and CPU-based scaling), so the template is generated from the table
below rather than repeated by hand.
"""

import pathlib
import sys

from generated import write_or_check

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "control-plane.json"

# name, logical ID prefix, REST port, gRPC port, REST paths it owns on the public balancer
# (None: the default route), and whether it keeps state in PostgreSQL.
SERVICES = [
    ("catalog-svc", "Catalog", 8500, 8502, None, True),
    ("authz-svc", "Authz", 8505, 8504, ["/v1/acl/*", "/v1/connect/intentions*", "/v1/internal/acl/*"], True),
    ("ca-svc", "CA", 8507, 8506, ["/v1/connect/ca/*"], True),
    (
        "iam-auth-svc",
        "IAMAuth",
        8509,
        8508,
        ["/v1/acl/auth-method*", "/v1/acl/binding-rule*", "/v1/acl/login", "/v1/acl/logout"],
        True,
    ),
    ("config-distributor", "ConfigDistributor", 8511, 8510, None, False),
]
# The listener rules' priorities: iam-auth-svc's paths must win over authz-svc's `/v1/acl/*`.
PRIORITY = {"iam-auth-svc": 10, "authz-svc": 20, "ca-svc": 30}


def ref(name):
    return {"Ref": name}


def att(resource, attribute):
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text):
    return {"Fn::Sub": text}


def parameters():
    def p(kind, description, **extra):
        return {"Type": kind, "Description": description, **extra}

    return {
        "VpcId": p("AWS::EC2::VPC::Id", "The VPC the mesh runs in."),
        "PrivateSubnetIds": p("List<AWS::EC2::Subnet::Id>", "Subnets of the tasks and the database (two AZs at least)."),
        "LoadBalancerSubnetIds": p("List<AWS::EC2::Subnet::Id>", "Subnets of the REST load balancer."),
        "LoadBalancerScheme": p(
            "String", "internal, or internet-facing for the REST API.", Default="internal",
            AllowedValues=["internal", "internet-facing"],
        ),
        "AllowedCidr": p("String", "Who may reach the load balancers (the VPC's CIDR, usually).", Default="10.0.0.0/8"),
        "CertificateArn": p("String", "ACM certificate of both load balancers' HTTPS listeners."),
        "ImageRepository": p("String", "Registry path of the images (<repository>/<executable>:<tag>)."),
        "ImageTag": p("String", "Tag of the images.", Default="latest"),
        "DesiredCount": p("Number", "Tasks per service at the start (the scaling minimum).", Default=2, MinValue=1),
        "MaxCount": p("Number", "Tasks per service at most (the scaling maximum).", Default=6, MinValue=1),
        "CpuTargetPercent": p("Number", "Average CPU the scaling keeps each service at.", Default=60),
        "DatabaseInstanceClass": p("String", "RDS instance class.", Default="db.t4g.medium"),
        "DatabaseName": p("String", "PostgreSQL database.", Default="mesh"),
        "DatabaseUsername": p("String", "PostgreSQL user (its password is generated into Secrets Manager).", Default="mesh"),
        "CAKeyEncryptionKeySecretArn": p(
            "String", "Secrets Manager secret holding the CA's key-encryption key (openssl rand -base64 32)."
        ),
        # One TLS identity per service, each certificate naming its service (meshctl tls create):
        # the services check that a peer is the one they dialled.
        **{
            f"{prefix}TLSSecretArn": p(
                "String",
                f"Secrets Manager secret, JSON with cert, key and ca (PEM): {name}'s TLS identity "
                f"(its certificate names {name}; meshctl tls create writes {name}-secret.json).",
            )
            for name, prefix, *_ in SERVICES
        },
        "IAMRolePath": p("String", "Path of the task roles that may log in (the auth method's bound ARN).", Default="/consul-ecs/"),
        "Datacenter": p("String", "Datacenter name.", Default="dc1"),
    }


def security_groups():
    def group(description, ingress):
        return {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {"GroupDescription": description, "VpcId": ref("VpcId"), "SecurityGroupIngress": ingress},
        }

    https_from_allowed = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": ref("AllowedCidr")}]
    grpc_ports = [{"IpProtocol": "tcp", "FromPort": grpc, "ToPort": grpc, "CidrIp": ref("AllowedCidr")} for _, _, _, grpc, _, _ in SERVICES]
    return {
        "RestLoadBalancerSecurityGroup": group("mesh REST load balancer: HTTPS from the allowed CIDR", https_from_allowed),
        "GrpcLoadBalancerSecurityGroup": group("mesh gRPC load balancer: each service port from the allowed CIDR", grpc_ports),
        # The tasks: their ports from the two balancers only.
        "ServiceSecurityGroup": group(
            "mesh control-plane tasks: their ports from the load balancers",
            [
                {"IpProtocol": "tcp", "FromPort": 8500, "ToPort": 8511, "SourceSecurityGroupId": ref(source)}
                for source in ["RestLoadBalancerSecurityGroup", "GrpcLoadBalancerSecurityGroup"]
            ],
        ),
        "DatabaseSecurityGroup": group(
            "mesh database: PostgreSQL from the control-plane tasks",
            [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "SourceSecurityGroupId": ref("ServiceSecurityGroup")}],
        ),
    }


def shared():
    return {
        "Cluster": {
            "Type": "AWS::ECS::Cluster",
            "Properties": {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
        },
        # The first management token: authz-svc's initial management token, and iam-auth-svc's own.
        "BootstrapTokenSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Description": "swift-mesh initial management token",
                "GenerateSecretString": {"PasswordLength": 40, "ExcludePunctuation": True},
            },
        },
        "DatabaseSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Description": "swift-mesh database credentials",
                "GenerateSecretString": {
                    "SecretStringTemplate": sub('{"username": "${DatabaseUsername}"}'),
                    "GenerateStringKey": "password",
                    "PasswordLength": 40,
                    "ExcludePunctuation": True,
                },
            },
        },
        "DatabaseSecretAttachment": {
            "Type": "AWS::SecretsManager::SecretTargetAttachment",
            "Properties": {
                "SecretId": ref("DatabaseSecret"),
                "TargetId": ref("Database"),
                "TargetType": "AWS::RDS::DBInstance",
            },
        },
        "DatabaseSubnetGroup": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {"DBSubnetGroupDescription": "swift-mesh database", "SubnetIds": ref("PrivateSubnetIds")},
        },
        "Database": {
            "Type": "AWS::RDS::DBInstance",
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
            "Properties": {
                "Engine": "postgres",
                "EngineVersion": "17.6",
                "DBInstanceClass": ref("DatabaseInstanceClass"),
                "AllocatedStorage": "50",
                "StorageEncrypted": True,
                "MultiAZ": True,
                "DBName": ref("DatabaseName"),
                "MasterUsername": ref("DatabaseUsername"),
                # The password is generated into Secrets Manager and never appears in the template;
                # the tasks read it from there (PGPASSWORD) and the attachment lets rotation find the DB.
                "MasterUserPassword": sub("{{resolve:secretsmanager:${DatabaseSecret}:SecretString:password}}"),
                "DBSubnetGroupName": ref("DatabaseSubnetGroup"),
                "VPCSecurityGroups": [ref("DatabaseSecurityGroup")],
                "PubliclyAccessible": False,
            },
        },
        "RestLoadBalancer": {
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": {
                "Type": "application",
                "Scheme": ref("LoadBalancerScheme"),
                "Subnets": ref("LoadBalancerSubnetIds"),
                "SecurityGroups": [ref("RestLoadBalancerSecurityGroup")],
            },
        },
        "RestListener": {
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": ref("RestLoadBalancer"),
                "Port": 443,
                "Protocol": "HTTPS",
                "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "Certificates": [{"CertificateArn": ref("CertificateArn")}],
                # Everything no rule claims is the catalog's (as the Consul API's default).
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": ref("CatalogRestTargetGroup")}],
            },
        },
        # Internal gRPC between the services and from the data plane: one HTTPS listener per service port.
        "GrpcLoadBalancer": {
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": {
                "Type": "application",
                "Scheme": "internal",
                "Subnets": ref("PrivateSubnetIds"),
                "SecurityGroups": [ref("GrpcLoadBalancerSecurityGroup")],
            },
        },
    }


def assume(service):
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def execution_role(secrets):
    """A task execution role that may read exactly the secrets its container is given."""
    arns = []
    for entry in secrets:
        source = entry["ValueFrom"]
        # sub("${Secret}:key::") or ref("Secret")
        name = source["Fn::Sub"][2:].split("}")[0] if "Fn::Sub" in source else source["Ref"]
        if ref(name) not in arns:
            arns.append(ref(name))
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": assume("ecs-tasks.amazonaws.com"),
            "ManagedPolicyArns": [sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")],
            "Policies": [
                {
                    "PolicyName": "read-own-secrets",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arns}],
                    },
                }
            ],
        },
    }


def service_resources(name, prefix, http, grpc, paths, stateful):
    resources = {}
    resources[f"{prefix}LogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": sub(f"/ecs/${{AWS::StackName}}/{name}"), "RetentionInDays": 30},
    }
    policies = []
    if name == "iam-auth-svc":
        # The ACL controller lists the cluster's tasks to delete the tokens of stopped ones.
        policies.append(
            {
                "PolicyName": "acl-controller",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": ["ecs:ListTasks", "ecs:DescribeTasks"], "Resource": "*"}
                    ],
                },
            }
        )
    role = {"AssumeRolePolicyDocument": assume("ecs-tasks.amazonaws.com")}
    if policies:
        role["Policies"] = policies
    resources[f"{prefix}TaskRole"] = {"Type": "AWS::IAM::Role", "Properties": role}
    for kind, port, protocol_version in [("Rest", http, "HTTP1"), ("Grpc", grpc, "GRPC")]:
        group = {
            "VpcId": ref("VpcId"),
            "TargetType": "ip",
            "Protocol": "HTTPS",
            "ProtocolVersion": protocol_version,
            "Port": port,
            "HealthCheckProtocol": "HTTPS",
            "HealthCheckIntervalSeconds": 10,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 3,
            "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "15"}],
        }
        if kind == "Rest":
            group["HealthCheckPath"] = "/ready"
            group["Matcher"] = {"HttpCode": "200"}
        else:
            # Any gRPC status means the server answers; readiness is the REST check's.
            group["HealthCheckPath"] = "/grpc.health.v1.Health/Check"
            group["Matcher"] = {"GrpcCode": "0-99"}
        resources[f"{prefix}{kind}TargetGroup"] = {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": group}
    resources[f"{prefix}GrpcListener"] = {
        "Type": "AWS::ElasticLoadBalancingV2::Listener",
        "Properties": {
            "LoadBalancerArn": ref("GrpcLoadBalancer"),
            "Port": grpc,
            "Protocol": "HTTPS",
            "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "Certificates": [{"CertificateArn": ref("CertificateArn")}],
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": ref(f"{prefix}GrpcTargetGroup")}],
        },
    }
    if paths:
        resources[f"{prefix}RestListenerRule"] = {
            "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
            "Properties": {
                "ListenerArn": ref("RestListener"),
                "Priority": PRIORITY[name],
                "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": paths}}],
                "Actions": [{"Type": "forward", "TargetGroupArn": ref(f"{prefix}RestTargetGroup")}],
            },
        }
    environment = [
        {"Name": "MESH_HTTP_ADDR", "Value": f"0.0.0.0:{http}"},
        {"Name": "MESH_GRPC_ADDR", "Value": f"0.0.0.0:{grpc}"},
        {"Name": "MESH_DATACENTER", "Value": ref("Datacenter")},
        {"Name": "AWS_REGION", "Value": ref("AWS::Region")},
    ]
    secrets = [
        {"Name": f"MESH_TLS_{key.upper()}_PEM", "ValueFrom": sub(f"${{{prefix}TLSSecretArn}}:{key}::")}
        for key in ["cert", "key", "ca"]
    ]
    if stateful:
        environment += [
            {"Name": "PGHOST", "Value": att("Database", "Endpoint.Address")},
            {"Name": "PGPORT", "Value": att("Database", "Endpoint.Port")},
            {"Name": "PGUSER", "Value": ref("DatabaseUsername")},
            {"Name": "PGDATABASE", "Value": ref("DatabaseName")},
            {"Name": "PGSSLMODE", "Value": "require"},
        ]
        secrets.append({"Name": "PGPASSWORD", "ValueFrom": sub("${DatabaseSecret}:password::")})
    if name != "authz-svc":
        environment.append({"Name": "MESH_AUTHZ_ADDR", "Value": sub("${GrpcLoadBalancer.DNSName}:8504")})
    if name == "authz-svc":
        secrets.append({"Name": "MESH_ACL_INITIAL_MANAGEMENT_TOKEN", "ValueFrom": ref("BootstrapTokenSecret")})
    if name == "ca-svc":
        secrets.append({"Name": "MESH_CA_KEK", "ValueFrom": ref("CAKeyEncryptionKeySecretArn")})
    if name == "iam-auth-svc":
        secrets.append({"Name": "MESH_ACL_TOKEN", "ValueFrom": ref("BootstrapTokenSecret")})
        environment += [
            {"Name": "MESH_ECS_CLUSTER", "Value": ref("Cluster")},
            {"Name": "MESH_CATALOG_ADDR", "Value": sub("${GrpcLoadBalancer.DNSName}:8502")},
            {"Name": "MESH_IAM_BOUND_ARNS", "Value": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role${IAMRolePath}*")},
        ]
    if name == "config-distributor":
        # Its own token for the watches (service:read, intention:read); proxies bring theirs.
        secrets.append({"Name": "MESH_ACL_TOKEN", "ValueFrom": ref("BootstrapTokenSecret")})
        environment += [
            {"Name": "MESH_CATALOG_ADDR", "Value": sub("${GrpcLoadBalancer.DNSName}:8502")},
            {"Name": "MESH_CA_ADDR", "Value": sub("${GrpcLoadBalancer.DNSName}:8506")},
        ]
    # Its own execution role: ECS reads only this service's secrets for it.
    resources[f"{prefix}ExecutionRole"] = execution_role(secrets)
    resources[f"{prefix}TaskDefinition"] = {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "Family": sub(f"${{AWS::StackName}}-{name}"),
            "Cpu": "512",
            "Memory": "1024",
            "NetworkMode": "awsvpc",
            "RequiresCompatibilities": ["FARGATE"],
            "ExecutionRoleArn": att(f"{prefix}ExecutionRole", "Arn"),
            "TaskRoleArn": att(f"{prefix}TaskRole", "Arn"),
            "ContainerDefinitions": [
                {
                    "Name": name,
                    "Image": sub(f"${{ImageRepository}}/{name}:${{ImageTag}}"),
                    "Essential": True,
                    "PortMappings": [
                        {"ContainerPort": http, "Protocol": "tcp"},
                        {"ContainerPort": grpc, "Protocol": "tcp"},
                    ],
                    "Environment": environment,
                    "Secrets": secrets,
                    # In-flight calls drain on SIGTERM (the services stop gracefully).
                    "StopTimeout": 30,
                    "LogConfiguration": {
                        "LogDriver": "awslogs",
                        "Options": {
                            "awslogs-group": ref(f"{prefix}LogGroup"),
                            "awslogs-region": ref("AWS::Region"),
                            "awslogs-stream-prefix": name,
                        },
                    },
                }
            ],
        },
    }
    depends = ["RestListener", f"{prefix}GrpcListener"] + ([f"{prefix}RestListenerRule"] if paths else [])
    resources[f"{prefix}Service"] = {
        "Type": "AWS::ECS::Service",
        "DependsOn": depends,
        "Properties": {
            "ServiceName": name,
            "Cluster": ref("Cluster"),
            "LaunchType": "FARGATE",
            "DesiredCount": ref("DesiredCount"),
            "TaskDefinition": ref(f"{prefix}TaskDefinition"),
            "HealthCheckGracePeriodSeconds": 60,
            "DeploymentConfiguration": {
                "MinimumHealthyPercent": 100,
                "MaximumPercent": 200,
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
            },
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "AssignPublicIp": "DISABLED",
                    "Subnets": ref("PrivateSubnetIds"),
                    "SecurityGroups": [ref("ServiceSecurityGroup")],
                }
            },
            "LoadBalancers": [
                {"ContainerName": name, "ContainerPort": http, "TargetGroupArn": ref(f"{prefix}RestTargetGroup")},
                {"ContainerName": name, "ContainerPort": grpc, "TargetGroupArn": ref(f"{prefix}GrpcTargetGroup")},
            ],
        },
    }
    resources[f"{prefix}ScalableTarget"] = {
        "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
        "Properties": {
            "ServiceNamespace": "ecs",
            "ScalableDimension": "ecs:service:DesiredCount",
            "ResourceId": {"Fn::Join": ["/", ["service", ref("Cluster"), att(f"{prefix}Service", "Name")]]},
            "MinCapacity": ref("DesiredCount"),
            "MaxCapacity": ref("MaxCount"),
        },
    }
    resources[f"{prefix}ScalingPolicy"] = {
        "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
        "Properties": {
            "PolicyName": sub(f"${{AWS::StackName}}-{name}-cpu"),
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": ref(f"{prefix}ScalableTarget"),
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": ref("CpuTargetPercent"),
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                "ScaleInCooldown": 120,
                "ScaleOutCooldown": 60,
            },
        },
    }
    return resources


def template():
    resources = {}
    resources.update(security_groups())
    resources.update(shared())
    for service in SERVICES:
        resources.update(service_resources(*service))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "swift-mesh control plane on ECS Fargate: catalog-svc, authz-svc, ca-svc, iam-auth-svc and "
        "config-distributor behind an HTTPS REST load balancer (Consul-compatible /v1 paths routed to their owner) "
        "and an internal gRPC load balancer, on RDS PostgreSQL. Generated by deploy/ecs/make_control_plane.py.",
        "Parameters": parameters(),
        "Resources": resources,
        "Outputs": {
            "ApiURL": {"Description": "The Consul-compatible REST API", "Value": sub("https://${RestLoadBalancer.DNSName}")},
            "GrpcHost": {"Description": "The services' gRPC (port per service)", "Value": att("GrpcLoadBalancer", "DNSName")},
            "DistributorAddress": {
                "Description": "Where proxies get their config (meshctl ecs mesh-task --distributor-addr)",
                "Value": sub("${GrpcLoadBalancer.DNSName}:8510"),
            },
            "ClusterName": {"Value": ref("Cluster")},
            "BootstrapTokenSecretArn": {
                "Description": "The initial management token (read it once, make narrower tokens)",
                "Value": ref("BootstrapTokenSecret"),
            },
            "DatabaseSecretArn": {"Value": ref("DatabaseSecret")},
        },
    }


def main():
    return write_or_check(OUT, template(), "deploy/ecs/make_control_plane.py")


if __name__ == "__main__":
    sys.exit(main())
