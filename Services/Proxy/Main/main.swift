import MeshProcess
import Proxy

await ProxyCommand.runAsMain()
