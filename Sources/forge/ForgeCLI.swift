// The forge command line: one subcommand per stage; each parses options and calls a library.
import ArgumentParser

@main
struct ForgeCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forge",
        abstract: "Forge: data to served model, in one Swift program.",
        subcommands: [SpeedrunCommand.self, DataCommand.self, TokenizerCommand.self, TokenizeCommand.self, PretrainCommand.self, SFTCommand.self, DPOCommand.self, RewardModelCommand.self, GRPOCommand.self, ProblemsCommand.self, PairsCommand.self, LoRACommand.self,
                      ClassifierCommand.self, RedTeamCommand.self, AuditCommand.self,
                      ConvertCommand.self, ExportCommand.self, QuantizeCommand.self, ImatrixCommand.self, PruneCommand.self, DistilCommand.self, GenerateCommand.self, ChatCommand.self, AgentCommand.self, PerplexityCommand.self, PlotCommand.self,
                      ServeCommand.self, FeedbackCommand.self, ReviewCommand.self, EmbedCommand.self, RAGCommand.self, EvalCommand.self, ReportCommand.self, CardCommand.self, RunsCommand.self, BenchCommand.self])
}
