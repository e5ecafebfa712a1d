import Agent
import MeshProcess

await AgentCommand.runAsMain()
