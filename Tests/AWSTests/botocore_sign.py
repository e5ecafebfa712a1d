"""Sign an STS GetCallerIdentity request with botocore's SigV4Auth, for BotocoreCrossCheckTests.swift.

Prints a JSON object with botocore's canonical request, string to sign and Authorization header. The inputs are
fixed here and repeated in the Swift test; nothing is sent anywhere. Run: python3 botocore_sign.py
"""

import datetime
import json

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLE//////////wEaDEXAMPLEtoken+with/slashes+and=="
NOW = datetime.datetime(2026, 11, 25, 9, 5, 7, tzinfo=datetime.timezone.utc)
BODY = b"Action=GetCallerIdentity&Version=2011-06-15"

# Freeze the clock that SigV4Auth.add_auth reads.
botocore.auth.get_current_datetime = lambda: NOW

request = AWSRequest(
    method="POST",
    url="https://sts.us-east-1.amazonaws.com/",
    data=BODY,
    headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
)
auth = botocore.auth.SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), "sts", "us-east-1")
auth.add_auth(request)
authorization = request.headers["Authorization"]
# Recompute the intermediates from the request as it was signed, i.e. without the Authorization header.
del request.headers["Authorization"]
canonical_request = auth.canonical_request(request)
print(
    json.dumps(
        {
            "authorization": authorization,
            "canonical_request": canonical_request,
            "string_to_sign": auth.string_to_sign(request, canonical_request),
            "x_amz_date": request.headers["X-Amz-Date"],
            "x_amz_security_token": request.headers["X-Amz-Security-Token"],
        }
    )
)
