import ArgumentParser

@main
struct Forge: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "forge", abstract: "Forge")
}
