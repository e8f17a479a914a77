// ClassifierModerator: the toxicity classifier behind the server's `Moderator` interface (`forge serve --moderation
// classifier:DIR`): a text at or above the classifier's calibrated threshold is refused with its score as the reason.
import ForgeSafety
import ForgeServer

struct ClassifierModerator: Moderator {
    let classifier: TextClassifier

    func check(_ text: String) -> ModerationResult? {
        let p = classifier.probabilities([text])[0]
        guard p >= classifier.settings.threshold else { return nil }
        return ModerationResult(category: classifier.settings.label,
                                reason: "the \(classifier.settings.label) classifier scores it \((p * 1000).rounded() / 1000) (threshold \((classifier.settings.threshold * 1000).rounded() / 1000))")
    }
}
