"""The ECS control-plane template: cfn-lint clean, and deployed into a local moto_server, with
every resource it made read back through the AWS APIs (except the types moto cannot model).

Run by scripts/test.sh (pytest); needs cfn-lint, moto[server] and boto3 (moto brings it).
"""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The CloudFormation templates under deploy/ (JSON files with Resources; task definitions are not).
TEMPLATES = [p for p in sorted((ROOT / "deploy").rglob("*.json")) if "Resources" in json.loads(p.read_text())]
CONTROL_PLANE = ROOT / "deploy" / "ecs" / "control-plane.json"
SAMPLE = ROOT / "deploy" / "ecs" / "sample" / "sample.json"
MESHCTL = ROOT / ".build" / "debug" / "meshctl"

# Resource types moto's CloudFormation cannot create or read back faithfully; every other
# resource in the template must be found through its service's API.
UNCHECKED_TYPES = {
    # moto's CloudFormation skips these (Application Auto Scaling through CloudFormation, and the
    # secret-to-database link used by rotation): checked in the template by the tests above.
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::SecretsManager::SecretTargetAttachment",
    # moto's CloudFormation does not create Secrets Manager secrets (it leaves them out of the
    # stack); the tasks' references to them are checked in the template and the task definitions.
    "AWS::SecretsManager::Secret",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto():
    if shutil.which("moto_server") is None:
        pytest.skip("moto_server is not installed")
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="moto-cfn-", suffix=".log", delete=False)
    process = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2)
                break
            except OSError:
                if time.time() > deadline or process.poll() is not None:
                    raise RuntimeError("moto_server did not start: " + pathlib.Path(log.name).read_text())
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.unlink(log.name)


def client(moto, name):
    import boto3

    return boto3.client(
        name, endpoint_url=moto, region_name="us-east-1", aws_access_key_id="AKIDTEST", aws_secret_access_key="test"
    )


def test_every_template_passes_cfn_lint():
    if shutil.which("cfn-lint") is None:
        pytest.skip("cfn-lint is not installed")
    assert CONTROL_PLANE in TEMPLATES
    for template in TEMPLATES:
        result = subprocess.run(["cfn-lint", str(template)], capture_output=True, text=True)
        # cfn-lint's exit status has bit 2 for errors (4 warnings, 8 informational): no errors, no warnings.
        assert result.returncode == 0, f"{template}:\n{result.stdout}{result.stderr}"


def test_the_committed_templates_are_what_their_generators_make():
    result = subprocess.run(
        ["python3", str(ROOT / "deploy" / "ecs" / "make_control_plane.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    if not MESHCTL.exists():
        pytest.skip("the sample needs a built meshctl (swift build --product meshctl)")
    result = subprocess.run(
        ["python3", str(ROOT / "deploy" / "ecs" / "sample" / "make_sample.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_sample_meshes_three_servers_and_a_client():
    resources = json.loads(SAMPLE.read_text())["Resources"]
    assert resources["HttpServerService"]["Properties"]["DesiredCount"] == 3
    assert resources["HttpClientService"]["Properties"]["DesiredCount"] == 1
    client = resources["HttpClientTaskDefinition"]["Properties"]["ContainerDefinitions"]
    proxy = next(c for c in client if c["Name"] == "mesh-proxy")
    assert proxy["Command"] == ["run", "--bootstrap", "/mesh/proxy.json"]
    agent = next(c for c in client if c["Name"] == "mesh-agent")
    assert "http-server:1234" in agent["Command"]
    assert {"Ref": "DistributorAddress"} in agent["Command"]
    # The proxy checks the distributor's TLS with the control plane's CA (a plain parameter: it is public).
    assert proxy["Environment"] == [{"Name": "MESH_DISTRIBUTOR_CA_PEM", "Value": {"Ref": "ControlPlaneCAPem"}}]
    app = next(c for c in client if c["Name"] == "http-client")
    assert app["DependsOn"] == [{"ContainerName": "mesh-proxy", "Condition": "HEALTHY"}]
    role = resources["HttpServerTaskRole"]["Properties"]
    assert role["Path"] == "/consul-ecs/"
    assert role["Tags"] == [{"Key": "consul.hashicorp.com.service-name", "Value": "http-server"}]


def test_rest_paths_go_to_their_owners():
    resources = json.loads(CONTROL_PLANE.read_text())["Resources"]
    rules = {
        name: (r["Properties"]["Priority"], r["Properties"]["Conditions"][0]["PathPatternConfig"]["Values"])
        for name, r in resources.items()
        if r["Type"] == "AWS::ElasticLoadBalancingV2::ListenerRule"
    }
    assert "/v1/acl/login" in rules["IAMAuthRestListenerRule"][1]
    assert "/v1/acl/*" in rules["AuthzRestListenerRule"][1]
    # iam-auth-svc's /v1/acl/... paths are matched before authz-svc's catch-all /v1/acl/*.
    assert rules["IAMAuthRestListenerRule"][0] < rules["AuthzRestListenerRule"][0]
    assert rules["CARestListenerRule"][1] == ["/v1/connect/ca/*"]
    listener = resources["RestListener"]["Properties"]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == {"Ref": "CatalogRestTargetGroup"}
    # The password alone comes from the RDS-managed secret; the rest of libpq's settings are plain.
    authz = resources["AuthzTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert {"PGHOST", "PGPORT", "PGUSER", "PGDATABASE"} <= {e["Name"] for e in authz["Environment"]}
    assert "PGPASSWORD" in {s["Name"] for s in authz["Secrets"]}
    ca = resources["CATaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert "MESH_CA_KEK" in {s["Name"] for s in ca["Secrets"]}
    # Each service sits behind its REST and gRPC target groups, and scales on CPU between
    # DesiredCount and MaxCount, on Fargate.
    for prefix in ["Catalog", "Authz", "CA", "IAMAuth", "ConfigDistributor"]:
        target = resources[f"{prefix}ScalableTarget"]["Properties"]
        assert (target["MinCapacity"], target["MaxCapacity"]) == ({"Ref": "DesiredCount"}, {"Ref": "MaxCount"})
        policy = resources[f"{prefix}ScalingPolicy"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        assert policy["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
        service = resources[f"{prefix}Service"]["Properties"]
        assert service["LaunchType"] == "FARGATE"
        assert [b["TargetGroupArn"] for b in service["LoadBalancers"]] == [
            {"Ref": f"{prefix}RestTargetGroup"},
            {"Ref": f"{prefix}GrpcTargetGroup"},
        ]
    # Only the load balancers reach the tasks, only the tasks reach the database.
    db_ingress = resources["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert db_ingress == [
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "SourceSecurityGroupId": {"Ref": "ServiceSecurityGroup"}}
    ]


def test_the_control_plane_deploys_into_moto_and_every_resource_reads_back(moto):
    ec2 = client(moto, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")["Subnet"]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    secrets = client(moto, "secretsmanager")
    kek = secrets.create_secret(Name="mesh-kek", SecretString="q83vEjRWeJCrze8SdFV4kHO6ULgkpUpT6Vj9u9a0YcE=")["ARN"]
    # One TLS identity per service (meshctl tls create writes <name>-secret.json for each).
    prefixes = ["Catalog", "Authz", "CA", "IAMAuth", "ConfigDistributor"]
    tls = {
        prefix: secrets.create_secret(
            Name=f"mesh-tls-{prefix.lower()}", SecretString=json.dumps({"cert": "c", "key": "k", "ca": "a"})
        )["ARN"]
        for prefix in prefixes
    }
    certificate = client(moto, "acm").request_certificate(DomainName="mesh.example.internal")["CertificateArn"]
    cloudformation = client(moto, "cloudformation")
    parameters = {
        "VpcId": vpc,
        "PrivateSubnetIds": ",".join(subnets),
        "LoadBalancerSubnetIds": ",".join(subnets),
        "CertificateArn": certificate,
        "ImageRepository": "123456789012.dkr.ecr.us-east-1.amazonaws.com/swift-mesh",
        "ImageTag": "1.0.0",
        "CAKeyEncryptionKeySecretArn": kek,
        **{f"{prefix}TLSSecretArn": arn for prefix, arn in tls.items()},
    }
    cloudformation.create_stack(
        StackName="mesh",
        TemplateBody=CONTROL_PLANE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName="mesh")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    made = cloudformation.list_stack_resources(StackName="mesh")["StackResourceSummaries"]
    template = json.loads(CONTROL_PLANE.read_text())["Resources"]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in made if r["LogicalResourceId"]}
    by_type = {}
    for name, resource in template.items():
        by_type.setdefault(resource["Type"], []).append(name)

    checked = set()
    iam = client(moto, "iam")
    ecs = client(moto, "ecs")
    cluster = physical["Cluster"]
    assert ecs.describe_clusters(clusters=[cluster])["clusters"][0]["status"] == "ACTIVE"
    checked.add("Cluster")
    for name in by_type["AWS::ECS::Service"]:
        service = ecs.describe_services(cluster=cluster, services=[physical[name]])["services"][0]
        # (moto reports every service as EC2; the template asks for FARGATE, checked above.)
        assert service["taskDefinition"] == physical[name.replace("Service", "TaskDefinition")]
        # (moto keeps no load balancers on services made by CloudFormation; the template's are checked above.)
        assert service["desiredCount"] == 2
        checked.add(name)
    for name in by_type["AWS::ECS::TaskDefinition"]:
        definition = ecs.describe_task_definition(taskDefinition=physical[name])["taskDefinition"]
        container = definition["containerDefinitions"][0]
        assert container["image"].startswith("123456789012.dkr.ecr.us-east-1.amazonaws.com/swift-mesh/")
        assert container["image"].endswith(":1.0.0")
        assert definition["family"].startswith("mesh-")
        assert {"MESH_TLS_CERT_PEM", "MESH_TLS_KEY_PEM", "MESH_TLS_CA_PEM"} <= {s["name"] for s in container["secrets"]}
        # Each service gets its own TLS identity, and its execution role reads no other's.
        prefix = name.removesuffix("TaskDefinition")
        own = tls[prefix]
        assert all(s["valueFrom"].startswith(own) for s in container["secrets"] if s["name"].startswith("MESH_TLS_"))
        role = iam.get_role_policy(RoleName=physical[f"{prefix}ExecutionRole"], PolicyName="read-own-secrets")
        readable = json.dumps(role["PolicyDocument"])
        assert own in readable
        assert not any(arn in readable for other, arn in tls.items() if other != prefix)
        checked.add(name)
    for name in by_type["AWS::IAM::Role"]:
        role = iam.get_role(RoleName=physical[name])["Role"]
        assert "ecs-tasks.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])
        checked.add(name)
    controller = iam.list_role_policies(RoleName=physical["IAMAuthTaskRole"])["PolicyNames"]
    assert controller == ["acl-controller"]
    elb = client(moto, "elbv2")
    groups = {g["TargetGroupArn"]: g for g in elb.describe_target_groups()["TargetGroups"]}
    for name in by_type["AWS::ElasticLoadBalancingV2::TargetGroup"]:
        group = groups[physical[name]]
        assert group["TargetType"] == "ip" and group["Protocol"] == "HTTPS"
        assert group["HealthCheckPath"] == ("/ready" if "Rest" in name else "/grpc.health.v1.Health/Check")
        checked.add(name)
    balancers = {b["LoadBalancerArn"]: b for b in elb.describe_load_balancers()["LoadBalancers"]}
    for name in by_type["AWS::ElasticLoadBalancingV2::LoadBalancer"]:
        assert balancers[physical[name]]["Type"] == "application"
        checked.add(name)
    listeners = {}
    for arn in balancers:
        for listener in elb.describe_listeners(LoadBalancerArn=arn)["Listeners"]:
            listeners[listener["ListenerArn"]] = listener
    for name in by_type["AWS::ElasticLoadBalancingV2::Listener"]:
        assert listeners[physical[name]]["Protocol"] == "HTTPS"
        checked.add(name)
    rules = {r["RuleArn"] for r in elb.describe_rules(ListenerArn=physical["RestListener"])["Rules"]}
    for name in by_type["AWS::ElasticLoadBalancingV2::ListenerRule"]:
        assert physical[name] in rules
        checked.add(name)
    ec2_groups = {g["GroupId"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
    for name in by_type["AWS::EC2::SecurityGroup"]:
        assert ec2_groups[physical[name]]["VpcId"] == vpc
        checked.add(name)
    logs = client(moto, "logs")
    log_groups = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    for name in by_type["AWS::Logs::LogGroup"]:
        assert physical[name] in log_groups
        checked.add(name)
    rds = client(moto, "rds")
    database = rds.describe_db_instances(DBInstanceIdentifier=physical["Database"])["DBInstances"][0]
    assert database["Engine"] == "postgres" and database["StorageEncrypted"]
    checked.add("Database")
    assert rds.describe_db_subnet_groups(DBSubnetGroupName=physical["DatabaseSubnetGroup"])["DBSubnetGroups"]
    checked.add("DatabaseSubnetGroup")
    unchecked = {name for name, r in template.items() if r["Type"] in UNCHECKED_TYPES}
    assert set(template) - checked == unchecked, f"not read back: {sorted(set(template) - checked - unchecked)}"


def test_the_sample_deploys_into_moto(moto):
    ec2 = client(moto, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    ecs = client(moto, "ecs")
    ecs.create_cluster(clusterName="walkthrough")
    cloudformation = client(moto, "cloudformation")
    parameters = {
        "ClusterName": "walkthrough",
        "VpcId": vpc,
        "PrivateSubnetIds": subnet,
        "MeshAddress": "https://mesh.internal",
        "DistributorAddress": "grpc.mesh.internal:8510",
        "ControlPlaneCAPem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "ImageRepository": "123456789012.dkr.ecr.us-east-1.amazonaws.com/swift-mesh",
        "ImageTag": "1.0.0",
    }
    cloudformation.create_stack(
        StackName="walkthrough",
        TemplateBody=SAMPLE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    assert cloudformation.describe_stacks(StackName="walkthrough")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    made = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName="walkthrough")["StackResourceSummaries"]
    }
    template = json.loads(SAMPLE.read_text())["Resources"]
    assert set(made) == set(template)
    services = ecs.describe_services(cluster="walkthrough", services=[made["HttpServerService"], made["HttpClientService"]])
    assert sorted(s["desiredCount"] for s in services["services"]) == [1, 3]
    definition = ecs.describe_task_definition(taskDefinition=made["HttpClientTaskDefinition"])["taskDefinition"]
    names = [c["name"] for c in definition["containerDefinitions"]]
    assert names == ["http-client", "mesh-agent", "mesh-proxy"]
    agent = next(c for c in definition["containerDefinitions"] if c["name"] == "mesh-agent")
    assert agent["image"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/swift-mesh/mesh-agent:1.0.0"
    assert "https://mesh.internal" in agent["command"]
    assert "grpc.mesh.internal:8510" in agent["command"]
    iam = client(moto, "iam")
    role = iam.get_role(RoleName=made["HttpServerTaskRole"])["Role"]
    assert role["Path"] == "/consul-ecs/"
    assert {"Key": "consul.hashicorp.com.service-name", "Value": "http-server"} in role.get("Tags", [])
    groups = ec2.describe_security_groups(GroupIds=[made["TaskSecurityGroup"]])["SecurityGroups"]
    assert groups[0]["IpPermissions"][0]["FromPort"] == 21000
