// FeedbackSchema: placeholder while the feedback store is written (issue 19).
import ForgeCore
import GRDB
