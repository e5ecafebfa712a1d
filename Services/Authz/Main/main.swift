// `authz-svc` is specified in issue 4; until it lands the executable only says so.
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

let message = "authz-svc: not implemented yet\n"
_ = message.withCString { write(2, $0, strlen($0)) }
exit(2)
